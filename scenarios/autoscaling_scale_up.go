package scenarios

import (
	"fmt"
	"time"

	. "github.com/chaoslab/chaoslab/assertions"
	"github.com/chaoslab/chaoslab/lab/cluster"
	"github.com/chaoslab/chaoslab/lab/cluster/autoscale"
	"github.com/chaoslab/chaoslab/load"
)

func init() {
	Register(Scenario{
		ID:    "autoscaling/hpa-scale-up",
		Title: "A traffic spike overloads one replica until the HPA scales out",
		Symptom: "CPU above the 50% target makes the HPA scale 1 -> >= 3 replicas within 30 s of the spike; " +
			"p95 after the scale-out is below half the p95 at the peak on one replica",
		Story: `A shop's API runs one replica overnight; a HorizontalPodAutoscaler keeps its CPU at 50% of the request. ` +
			`At 7:00 a newsletter goes out and traffic jumps from 8 to 50 requests per second. One replica answers at most 40 per second: ` +
			`the rest wait in its queue, so nothing fails, but latency climbs from 50 ms to seconds.

The HPA cannot see the spike at once. metrics-server samples CPU every 10 s here (every 15 s with its standard manifest), the HPA ` +
			`reads it on its next sync, and only then asks for more pods. Until the new pods take traffic, the one replica carries the spike.

In the lab the pods are simulated by kwok; each Running pod is played by a server on loopback with two workers and 50 ms per ` +
			`request, and its CPU is modelled as 5 millicore-seconds per answered request (40 requests/s = 200m, twice its 100m request). ` +
			`The HPA controller, scheduler and metrics-server are the real ones.`,
		Lesson: `The HPA's rule is desired = ceil(current × utilization / target): one replica at 200% of its request against a 50% ` +
			`target asks for ceil(1 × 200 / 50) = 4. "kubectl describe hpa" shows it as a SuccessfulRescale event, "New size: 4; reason: ` +
			`cpu resource utilization (percentage of request) above target", and "kubectl get hpa --watch" shows TARGETS falling as pods join.

What the HPA cannot do is react faster than its inputs: metrics resolution, sync period (15 s by default) and pod start-up ` +
			`(instant for kwok's simulated pods, tens of seconds with real images and readiness probes). During that gap the replicas ` +
			`you already have absorb the spike: set minReplicas (or the per-pod capacity) for the spike you cannot scale in time, and ` +
			`read the latency chart beside the replicas chart to see how long the gap really is.`,
		NeedsCluster: true,
		New:          func() Play { return &hpaScaleUp{} },
	})
}

type hpaScaleUp struct{ x *asLab }

// The spike: 1.25× what one replica answers, so its queue grows until help
// arrives; well within what 2 replicas answer.
const (
	asBaselineRate = 8.0  // requests/s: 40m, 40% of the request, below the target
	asSpikeRate    = 50.0 // requests/s
)

func (p *hpaScaleUp) Setup(s *S) {
	s.measureClusterStart()
	p.x = s.startWorkload(autoscale.WorkloadSpec{Name: asWorkload, Replicas: 1, CPURequest: asCPURequest}, webReplica,
		cluster.NodeSpec{Name: "node-1", CPU: "8", Memory: "32Gi"})
	p.x.commonCommands(s)
	s.Note("replica model: " + webReplica.String())
}

func (p *hpaScaleUp) Run(s *S) {
	x := p.x
	defer x.recordSeries(s)

	s.Phase("baseline", fmt.Sprintf("one replica at %g requests/s while metrics-server samples it; then the HPA (target %d%%) reads it", asBaselineRate, asCPUTarget), func() {
		rs := x.loadWhile(s, "baseline", load.Constant(asBaselineRate), "the HPA reports CPU", func() {
			x.waitMetrics(s, 1)
			// A scale-down window longer than the scenario: this one is about the way up.
			x.createHPA(s, autoscale.HPASpec{Min: 1, Max: 8, CPUPercent: asCPUTarget, ScaleDownWindow: time.Minute})
			x.waitHPAMetric(s)
		})
		s.Expect(rs, "every request succeeds").To(HaveSuccessShare(">=", 0.99))
		s.Expect(rs, "one replica keeps up: latency near its 50 ms service time").
			To(HaveLatencyQuantile(0.95, "<", 3*webReplica.Service))
		s.Expect(x.specReplicas(s), "deployment replicas (API)").To(BeNumber("==", 1, "replicas"))
		h := x.hpa(s)
		s.Expect(conditionLines(h.Status.Conditions), "the HPA computes a CPU utilization").
			To(HaveLogLines("ScalingActive=True", "==", 1))
		s.Expect(x.hpaCPU(s, h), "the HPA's CPU utilization: below the target").To(BeNumber("<", asCPUTarget, "%"))
	})

	var (
		spike  *spanLoad
		t0     time.Time // the spike began
		second time.Time // a second replica was ready
	)
	s.Phase("fault", fmt.Sprintf("spike to %g requests/s (%gx one replica's %.0f/s) until 3 replicas are ready",
		asSpikeRate, asSpikeRate/webReplica.Capacity(), webReplica.Capacity()), func() {
		s.Lab.Record("fault-applied", "load", fmt.Sprintf("spike %g requests/s", asSpikeRate))
		t0 = time.Now()
		spike = x.startLoad(s, "spike", load.Constant(asSpikeRate), "the scaled-out replicas have served it for 4 s")
		scaled := x.eventually(s, "3 ready replicas serving", 40*time.Second, func() bool {
			return x.obs.MaxReplicas(x.name) >= 3 && len(x.sim.Endpoints()) >= 3
		})
		s.Expect(scaled.Sub(t0).Seconds(), "time from the spike to 3 ready replicas (metrics-server resolution 10 s + HPA sync 1 s + pod start)").
			To(BeNumber("<=", 30, "s"))
		s.Expect(x.eventLines("SuccessfulRescale"), "the HPA's SuccessfulRescale event names CPU above target").
			To(HaveLogLines("cpu resource utilization (percentage of request) above target", ">=", 1))
		if ev := x.obs.Events("SuccessfulRescale"); len(ev) > 0 {
			s.Measure("first SuccessfulRescale after the spike began", ev[0].At.Sub(t0).Seconds(), "s", ev[0].Message)
		}
		var ok bool
		if second, ok = x.firstReplicas(t0, func(r autoscale.ReplicaSample) bool { return r.Ready >= 2 }); !ok {
			s.Failf("no second replica was ever ready although 3 were; %s", x.state())
		}
		s.Measure("time on one replica after the spike began", second.Sub(t0).Seconds(), "s", "")
		top, sum := x.topPods(s)
		s.Measure("CPU of the pods (kubectl top pods)", float64(sum), "m", fmt.Sprintf("metrics-server, per pod %v; %s",
			top, map[bool]string{true: "measured by the kubelet (real pods)", false: "kwok's simulated usage"}[x.c.RealPods()]))
		// The answers back so far; the slowest of the peak are still queued.
		s.Expect(spike.soFar().Between(t0, second), "one replica under the spike (answers so far): latency far above its 50 ms service time").
			To(HaveLatencyQuantile(0.95, ">", 3*webReplica.Service))
	})

	s.Phase("recovery", fmt.Sprintf("the same %g requests/s: the new replicas take their share, the first one's queue drains", asSpikeRate), func() {
		scaledOut := time.Now()
		x.eventually(s, "the first replica's queue to drain (every answer of the last second within 150 ms)", 30*time.Second, func() bool {
			return spike.drained(3 * webReplica.Service)
		})
		s.Measure("queue drained after the scale-out", time.Since(scaledOut).Seconds(), "s", "")
		after := time.Now()
		s.Sleep(4 * time.Second)
		rs := spike.end(s)
		s.Lab.Record("fault-removed", "load", fmt.Sprintf("spike %g requests/s", asSpikeRate))
		peak, served := rs.Between(t0, second), rs.Between(after, time.Now())
		s.Measure("p95 at the peak on one replica", float64(peak.Quantile(0.95))/1e6, "ms", fmt.Sprintf("%d requests sent before a second replica was ready", len(peak)))
		s.Measure("p95 after the scale-out", float64(served.Quantile(0.95))/1e6, "ms", fmt.Sprintf("%d requests sent in the last 4 s", len(served)))
		s.Expect(rs, "requests succeed throughout, slowly at the peak: the replica queues, it does not refuse").To(HaveSuccessShare(">=", 0.99))
		s.Expect(served, "p95 after the scale-out against the peak on one replica").
			To(HaveLatencyRatioTo("peak on one replica", peak, 0.95, "<", 0.5))
		s.Expect(served, "latency back near the 50 ms service time").To(HaveLatencyQuantile(0.95, "<", 3*webReplica.Service))
		s.Expect(distinctHeader(served, "X-Upstream-Name"), "replicas answering (X-Upstream-Name)").To(BeNumber(">=", 3, "replicas"))
		s.Expect(x.specReplicas(s), "deployment replicas (API)").To(BeNumber(">=", 3, "replicas"))
		h := x.hpa(s)
		s.Expect(int(h.Status.CurrentReplicas), "the HPA's current replicas (API)").To(BeNumber(">=", 3, "replicas"))
		s.Note("requests per replica after the scale-out: " + servedBy(served))
		x.logKubectl(s, "describe", "hpa", x.name)
	})
}
