package scenarios

import (
	"fmt"
	"time"

	. "github.com/chaoslab/chaoslab/assertions"
	"github.com/chaoslab/chaoslab/fakes/upstream"
	"github.com/chaoslab/chaoslab/lab"
)

func init() {
	Register(Scenario{
		ID:      "gateway/504-slow-upstream",
		Title:   "Kong answers 504 when the upstream is slower than read_timeout",
		Symptom: "504 'The upstream server is timing out' >= 95% and one 'upstream timed out ... reading response header' log line per request; 200 after raising read_timeout",
		Story: `An API behind Kong starts answering in 300 ms after a slow database migration. The service's read_timeout ` +
			`was tuned tight, years ago, for a fast endpoint. Every request now ends in a 504 from Kong, although the ` +
			`upstream would have answered: the gateway gave up waiting for the response header first.`,
		Lesson: `A 504 from Kong means nginx timed out; the body says "The upstream server is timing out" and error.log says ` +
			`"upstream timed out (110: Connection timed out) while reading response header from upstream" (or "while connecting" ` +
			`for connect_timeout). X-Kong-Upstream-Latency on a 504 shows how long Kong waited.

Check the upstream directly (bypassing Kong) to see its real latency, then compare with the service's read_timeout ` +
			`(GET /services/NAME). Fix: raise read_timeout above the upstream's worst case, or make the upstream faster.`,
		Needs: []lab.Capability{},
		New:   func() Play { return &gw504Slow{} },
	})
}

type gw504Slow struct{ gwSetup }

const slowReadTimeout = 100 // ms, the tight timeout

func (x *gw504Slow) config(readTimeout int) string {
	return kongYAML(services(service("orders", httpURL("http", x.up),
		fmt.Sprintf("read_timeout: %d", readTimeout), "retries: 0")))
}

func (x *gw504Slow) Setup(s *S) {
	x.up = s.startUpstream("orders", upstream.Config{})
	x.gw = s.startGateway(x.config(slowReadTimeout))
	s.Command("The upstream directly, bypassing Kong", curlTiming(x.up.DirectURL()+"/orders"))
	s.Command("Kong's timeout errors", "grep -E 'timed out' error.log   # the lab's error log is in the report")
	s.Command("Raise the timeout (Kong with a database)", "curl -X PATCH "+x.gw.AdminURL()+"/services/orders --data read_timeout=1000")
}

func (x *gw504Slow) Run(s *S) {
	orders := target("GET", x.gw.ProxyURL()+"/orders")
	s.Phase("baseline", "fast upstream, read_timeout 100 ms", func() {
		rs := s.gwAttack("baseline", orders)
		s.Expect(rs, "requests succeed through Kong").To(HaveSuccessShare(">=", 0.99))
	})
	s.Phase("fault", "the upstream takes 300 ms, longer than read_timeout", func() {
		s.apply(x.up.Proxy, lab.Latency{Latency: 300 * time.Millisecond})
		logStart := len(x.gw.ErrorLog())
		rs := s.gwAttack("slow upstream", orders)
		s.Expect(rs, "Kong answers 504").To(HaveStatusShare(504, ">=", 0.95))
		s.Expect(rs, "Kong's 504 body").To(HaveBodyShare("The upstream server is timing out", ">=", 0.95))
		s.Expect(rs, "Kong gave up after read_timeout, not after the upstream's 300 ms").
			To(HaveLatencyQuantile(0.5, "<", 250*time.Millisecond))
		errs := s.gatewayErrors(x.gw, logStart)
		s.Expect(errs, "nginx logs the read timeout").
			To(HaveLogLines("upstream timed out (110: Connection timed out) while reading response header from upstream", ">=", len(rs)*9/10))
	})
	s.Phase("fix", "raise read_timeout to 1000 ms (POST /config)", func() {
		s.reload(x.gw, x.config(1000))
	})
	s.Phase("recovery", "slow but served", func() {
		rs := s.gwAttack("recovery", orders)
		s.Expect(rs, "requests succeed again").To(HaveSuccessShare(">=", 0.99))
		s.Expect(rs, "they take the upstream's 300 ms").To(HaveLatencyQuantile(0.5, ">=", 280*time.Millisecond))
	})
}
