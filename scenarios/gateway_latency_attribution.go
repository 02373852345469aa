package scenarios

import (
	"time"

	. "github.com/chaoslab/chaoslab/assertions"
	"github.com/chaoslab/chaoslab/fakes/upstream"
	"github.com/chaoslab/chaoslab/lab"
	"github.com/chaoslab/chaoslab/load"
)

func init() {
	Register(Scenario{
		ID:      "gateway/latency-attribution",
		Title:   "Is it Kong or the upstream? X-Kong-*-Latency tells",
		Symptom: "upstream delay: X-Kong-Upstream-Latency ~200 ms and X-Kong-Proxy-Latency small; delay inside the gateway path: the reverse",
		Story: `p99 doubles on an API and two teams blame each other: the service team says the gateway got slow after a ` +
			`plugin upgrade, the platform team says the service did. Both can be true on different days; the headers Kong ` +
			`adds to every response settle it in one curl.`,
		Lesson: `X-Kong-Upstream-Latency is the time the upstream took to send its response headers; X-Kong-Proxy-Latency is ` +
			`the time Kong spent before proxying (routing and plugins' access phases). A slow upstream moves the first, a slow ` +
			`plugin (or a custom one doing I/O) the second. With retries, proxy latency includes the earlier tries.

Run: curl -si URL | grep -i '^x-kong-.*latency' and compare the two numbers.`,
		New: func() Play { return &gwAttribution{} },
	})
}

type gwAttribution struct{ gwSetup }

const attributionDelay = 200 * time.Millisecond

// config optionally adds a pre-function that sleeps in the access phase: a
// plugin doing slow work inside the gateway path (it runs on real Kong too).
func (x *gwAttribution) config(slowPlugin bool) string {
	extra := []string{"retries: 0"}
	if slowPlugin {
		extra = append(extra, "plugins:", "- name: pre-function", `  config: {access: ["ngx.sleep(0.2)"]}`)
	}
	return kongYAML(services(service("orders", httpURL("http", x.up), extra...)))
}

func (x *gwAttribution) Setup(s *S) {
	x.up = s.startUpstream("orders", upstream.Config{})
	x.gw = s.startGateway(x.config(false))
}

func (x *gwAttribution) attack(s *S, name string) load.Results {
	return s.gwAttack(name, target("GET", x.gw.ProxyURL()+"/orders"))
}

// attribution records and asserts the two header medians.
func (x *gwAttribution) attribution(s *S, rs load.Results, upstreamMS, proxyMS [2]float64) {
	up, px := rs.HeaderQuantile("X-Kong-Upstream-Latency", 0.5), rs.HeaderQuantile("X-Kong-Proxy-Latency", 0.5)
	s.Measure("X-Kong-Upstream-Latency p50", up, "ms", "")
	s.Measure("X-Kong-Proxy-Latency p50", px, "ms", "")
	s.Expect(up, "X-Kong-Upstream-Latency median").To(BeBetween(upstreamMS[0], upstreamMS[1], "ms"))
	s.Expect(px, "X-Kong-Proxy-Latency median").To(BeBetween(proxyMS[0], proxyMS[1], "ms"))
}

func (x *gwAttribution) Run(s *S) {
	d := float64(attributionDelay.Milliseconds())
	small := [2]float64{0, 20}
	s.Phase("baseline", "no delay anywhere", func() {
		rs := x.attack(s, "baseline")
		s.Expect(rs, "requests succeed").To(HaveSuccessShare(">=", 0.99))
		x.attribution(s, rs, small, small)
	})
	var slow *lab.Applied
	s.Phase("fault", "200 ms added between Kong and the upstream", func() {
		slow = s.apply(x.up.Proxy, lab.Latency{Latency: attributionDelay})
		rs := x.attack(s, "slow upstream")
		s.Expect(rs, "requests succeed").To(HaveSuccessShare(">=", 0.99))
		x.attribution(s, rs, [2]float64{d * 0.9, d * 1.5}, small)
	})
	s.Phase("fault-in-gateway", "the upstream is fast again; a plugin sleeps 200 ms in the access phase", func() {
		s.remove(x.up.Proxy, slow)
		s.reload(x.gw, x.config(true))
		rs := x.attack(s, "slow plugin")
		s.Expect(rs, "requests succeed").To(HaveSuccessShare(">=", 0.99))
		x.attribution(s, rs, small, [2]float64{d * 0.9, d * 1.5})
	})
	s.Phase("fix", "remove the slow plugin", func() { s.reload(x.gw, x.config(false)) })
	s.Phase("recovery", "both small again", func() {
		rs := x.attack(s, "recovery")
		s.Expect(rs, "requests succeed").To(HaveSuccessShare(">=", 0.99))
		x.attribution(s, rs, small, small)
	})
}
