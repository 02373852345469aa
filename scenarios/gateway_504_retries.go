package scenarios

import (
	"fmt"
	"time"

	. "github.com/chaoslab/chaoslab/assertions"
	"github.com/chaoslab/chaoslab/fakes/upstream"
	"github.com/chaoslab/chaoslab/lab"
	"github.com/chaoslab/chaoslab/load"
)

func init() {
	Register(Scenario{
		ID:      "gateway/504-retries-multiply-wait",
		Title:   "Retries multiply the wait before a 504, but only for idempotent methods",
		Symptom: "GET waits about (retries+1) x read_timeout before its 504, POST one read_timeout; with retries 0 GET waits one timeout",
		Story: `An upstream hangs without answering. Clients report that GETs take three times the configured timeout ` +
			`before failing while POSTs fail fast, and the client-side timeouts fire before Kong's 504 ever arrives. ` +
			`Kong's default is 5 retries: with a 60 s read_timeout a GET can wait six minutes.`,
		Lesson: `nginx retries a request on error and timeout (proxy_next_upstream), so every try waits read_timeout again. ` +
			`Once the request has been sent, non-idempotent methods (POST, PATCH, LOCK) are not retried: they fail after one ` +
			`timeout. Failures while connecting are retried for every method.

Read the error log: one "upstream timed out" line per try. X-Kong-Proxy-Latency is recomputed on every retry and can ` +
			`exceed the timeout. Fix: set retries to what the upstream really tolerates (often 0 or 1) or lower the timeout.`,
		New: func() Play { return &gw504Retries{} },
	})
}

type gw504Retries struct {
	gwSetup
	faultGets []load.Result // the fault phase's GETs, the yardstick of recovery
}

const (
	retryTimeout = 100 * time.Millisecond
	retryCount   = 2
)

func (x *gw504Retries) config(retries int) string {
	return kongYAML(services(service("orders", httpURL("http", x.up),
		fmt.Sprintf("read_timeout: %d", retryTimeout.Milliseconds()), fmt.Sprintf("retries: %d", retries))))
}

func (x *gw504Retries) Setup(s *S) {
	x.up = s.startUpstream("orders", upstream.Config{})
	x.gw = s.startGateway(x.config(retryCount))
	s.Command("Time a GET and a POST through Kong", curlTiming(x.gw.ProxyURL()+"/orders")+"\ncurl -s -o /dev/null -w '%{http_code} %{time_total}\\n' -X POST "+x.gw.ProxyURL()+"/orders")
	s.Command("Count the tries per request", "grep -c 'upstream timed out' error.log")
}

func (x *gw504Retries) Run(s *S) {
	get := target("GET", x.gw.ProxyURL()+"/orders")
	post := target("POST", x.gw.ProxyURL()+"/orders")
	s.Phase("baseline", "healthy upstream, retries 2, read_timeout 100 ms", func() {
		s.Expect(s.gwAttack("GET", get), "GETs succeed").To(HaveSuccessShare(">=", 0.99))
		s.Expect(s.gwAttack("POST", post), "POSTs succeed").To(HaveSuccessShare(">=", 0.99))
	})
	s.Phase("fault", "the upstream accepts connections and never answers", func() {
		s.apply(x.up.Proxy, lab.Timeout{})
		logStart := len(x.gw.ErrorLog())
		gets := s.gwAttack("GET", get)
		s.Expect(gets, "GETs end in 504").To(HaveStatusShare(504, ">=", 0.95))
		s.Expect(gets, "a GET waits (retries+1) x read_timeout").To(HaveLatencyQuantile(0.5, ">=", 3*retryTimeout*9/10))
		// The upper side is the tries count below (exactly three timeouts per
		// GET) and the ratios: absolute ceilings over a 100 ms timeout do not
		// hold while other scenarios share the CPU.
		tries := len(s.gatewayErrors(x.gw, logStart))
		s.Measure("error-log lines per GET", float64(tries)/float64(len(gets)), "tries", "one 'upstream timed out' line per try")
		s.Expect(float64(tries)/float64(len(gets)), "tries per GET in the error log").To(BeBetween(2.7, 3.3, "tries"))
		posts := s.gwAttack("POST", post)
		s.Expect(posts, "POSTs end in 504").To(HaveStatusShare(504, ">=", 0.95))
		s.Expect(posts, "a POST waits one read_timeout").To(HaveLatencyQuantile(0.5, ">=", retryTimeout*9/10))
		s.Expect(posts, "a POST is not retried once sent: at most half a GET's wait").To(HaveLatencyRatioTo("GET", gets, 0.5, "<=", 1.0/2))
		x.faultGets = gets
	})
	s.Phase("fix", "retries 0 (POST /config)", func() { s.reload(x.gw, x.config(0)) })
	s.Phase("recovery", "a GET now fails after one timeout", func() {
		gets := s.gwAttack("GET", get)
		s.Expect(gets, "still 504: the upstream still hangs").To(HaveStatusShare(504, ">=", 0.95))
		s.Expect(gets, "but after one read_timeout").To(HaveLatencyQuantile(0.5, ">=", retryTimeout*9/10))
		s.Expect(gets, "...not three: at most half the wait with retries 2").To(HaveLatencyRatioTo("GET with retries 2", x.faultGets, 0.5, "<=", 1.0/2))
	})
}
