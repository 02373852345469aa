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
		ID:      "faults/latency-injection",
		Title:   "Network latency between a client and its upstream",
		Symptom: "p50 rises by the injected 200 ms (within max(5 ms, 5%)), then returns to baseline",
		Story: `A dependency's network path gets slower: a congested link, a cross-zone hop, a proxy under load. ` +
			`Every request pays the extra round trip, and dashboards show latency stepping up by a constant amount.

Chaos tools are often trusted without checking: users of some report injected latency 2-5x off the configured value. ` +
			`This scenario is the calibration: it proves the lab injects exactly what it says, and that the symptom disappears with the fault.`,
		Lesson: `A constant step in every percentile at once (p50, p95, p99 all move by the same amount) points at the network path or a fixed delay, ` +
			`not at load: load-induced latency grows the tail first.

Measure the fault before blaming the system: the lab probes through the proxy on a fresh connection and records the realised delay.`,
		New: func() Play { return &latencyInjection{} },
	})
}

type latencyInjection struct{ up *lab.Upstream }

const injectedLatency = 200 * time.Millisecond

func (x *latencyInjection) Setup(s *S) {
	var err error
	x.up, err = s.Lab.Upstream(s.Ctx, "api", upstream.Config{})
	s.Must(err, "starting the upstream")
	api := s.toxiproxyAPI()
	s.Command("Timing breakdown through the fault proxy (ttfb carries the latency)", curlTiming(x.up.URL()+"/"))
	s.Command("Inject the same latency by hand", toxicCommand(api, "api", "latency", `{"latency":200}`))
	s.Command("Remove it", "curl -s -X DELETE "+api+"/proxies/api/toxics/by-hand")
}

func (x *latencyInjection) Run(s *S) {
	targets := get(x.up.URL() + "/")
	var base load.Results
	s.Phase("baseline", "healthy path through the fault proxy", func() {
		base = s.Attack("baseline", targets, constant(), phaseLoad)
		s.Expect(base, "every request succeeds").To(HaveSuccessShare(">=", 0.99))
	})
	var applied *lab.Applied
	s.Phase("fault", "200 ms latency toxic on the response stream", func() {
		applied = s.apply(x.up.Proxy, lab.Latency{Latency: injectedLatency})
		rs := s.Attack("latency", targets, constant(), phaseLoad)
		s.Expect(rs, "requests still succeed").To(HaveSuccessShare(">=", 0.99))
		s.Expect(rs, "p50 rises by the injected latency").
			To(HaveLatencyIncrease(base, 0.5, injectedLatency, 5*time.Millisecond, 0.05))
	})
	s.Phase("fix", "remove the toxic", func() { s.remove(x.up.Proxy, applied) })
	s.Phase("recovery", "latency back to baseline", func() {
		rs := s.Attack("recovery", targets, constant(), phaseLoad)
		s.Expect(rs, "every request succeeds").To(HaveSuccessShare(">=", 0.99))
		s.Expect(rs, "p50 is back to baseline").
			To(HaveLatencyIncrease(base, 0.5, 0, 5*time.Millisecond, 0.05))
	})
}
