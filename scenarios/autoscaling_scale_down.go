package scenarios

import (
	"context"
	"fmt"
	"time"

	. "github.com/chaoslab/chaoslab/assertions"
	"github.com/chaoslab/chaoslab/lab/cluster"
	"github.com/chaoslab/chaoslab/lab/cluster/autoscale"
	"github.com/chaoslab/chaoslab/load"
)

func init() {
	Register(Scenario{
		ID:    "autoscaling/hpa-scale-down-stabilization",
		Title: "Traffic stops; the HPA holds the replicas for its scale-down stabilization window, then drops them",
		Symptom: "after the load stops, 4 replicas hold for the 12 s scale-down window (AbleToScale ScaleDownStabilized), " +
			"then drop: the drop comes 12 s (-2 s/+1 s) after the HPA's recommendation fell",
		Story: `The evening peak is over. The HPA had scaled the API to its maximum of 4 replicas, traffic falls to nothing, and the ` +
			`replicas stay. Someone opens a ticket: "the HPA is broken, idle pods are not removed". It is working as designed: when ` +
			`scaling down, the HPA uses the highest replica count it recommended during the stabilization window (5 minutes by ` +
			`default), so a dip in traffic followed by a rebound does not make pods come and go.

The window starts when the HPA's recommendation falls, not when traffic stops: metrics-server's samples (10 s here) have to ` +
			`show the lower usage first. In the lab the window is 12 s instead of 300 s. The pods are simulated by kwok and played by ` +
			`servers on loopback; their CPU is modelled as 5 millicore-seconds per answered request (15 requests/s per pod = 75m = 75% ` +
			`of the 100m request). The HPA controller and metrics-server are real.`,
		Lesson: `"kubectl describe hpa" during the hold shows AbleToScale=True, reason ScaleDownStabilized: "recent recommendations were ` +
			`higher than current one, applying the highest recent recommendation". When it ends, a SuccessfulRescale event says ` +
			`"New size: N; reason: All metrics below target".

The knob is behavior.scaleDown.stabilizationWindowSeconds (default 300). Longer: fewer pods killed by a short dip, more ` +
			`idle capacity paid for. Shorter: cheaper, but spiky traffic makes pods flap. behavior.scaleDown.policies limit how fast ` +
			`it goes down once it does (for example 1 pod per 60 s). To predict when pods go, add the metrics resolution and the HPA ` +
			`sync period (15 s by default) to the window.`,
		NeedsCluster: true,
		New:          func() Play { return &hpaScaleDown{} },
	})
}

type hpaScaleDown struct{ x *asLab }

const (
	asScaleDownWindow = 12 * time.Second
	asScaleDownMax    = 4
	// 15 requests/s per replica: 75% of the request, above the 50% target,
	// so the HPA wants more than its maximum while the traffic lasts.
	asPeakRate = 60.0
)

func (p *hpaScaleDown) Setup(s *S) {
	s.measureClusterStart()
	p.x = s.startWorkload(autoscale.WorkloadSpec{Name: asWorkload, Replicas: asScaleDownMax, CPURequest: asCPURequest}, webReplica,
		cluster.NodeSpec{Name: "node-1", CPU: "8", Memory: "32Gi"})
	p.x.commonCommands(s)
	s.Note("replica model: " + webReplica.String())
}

func (p *hpaScaleDown) Run(s *S) {
	x := p.x
	defer x.recordSeries(s)
	W := asScaleDownWindow
	var stopped time.Time // the last answer of the peak's load

	s.Phase("baseline", fmt.Sprintf("the evening peak: %g requests/s over %d replicas, the HPA at its maximum", asPeakRate, asScaleDownMax), func() {
		rs := x.loadWhile(s, "peak", load.Constant(asPeakRate), "the HPA reports CPU", func() {
			x.waitMetrics(s, asScaleDownMax)
			x.createHPA(s, autoscale.HPASpec{Min: 1, Max: asScaleDownMax, CPUPercent: asCPUTarget, ScaleDownWindow: W})
			x.waitHPAMetric(s)
		})
		stopped = time.Now()
		s.Lab.Record("fault-applied", "load", "traffic stops")
		s.Expect(rs, "every request succeeds").To(HaveSuccessShare(">=", 0.99))
		s.Expect(rs, "latency near the 50 ms service time").To(HaveLatencyQuantile(0.95, "<", 3*webReplica.Service))
		s.Expect(distinctHeader(rs, "X-Upstream-Name"), "replicas answering (X-Upstream-Name)").To(BeNumber("==", asScaleDownMax, "replicas"))
		h := x.hpa(s)
		s.Expect(x.hpaCPU(s, h), "the HPA's CPU utilization: above the target").To(BeNumber(">", asCPUTarget, "%"))
		s.Expect(conditionLines(h.Status.Conditions), "the HPA wants more than its maximum (API)").
			To(HaveLogLines("ScalingLimited=True TooManyReplicas", "==", 1))
		s.Expect(x.specReplicas(s), "deployment replicas (API)").To(BeNumber("==", asScaleDownMax, "replicas"))
	})

	var drop time.Time
	s.Phase("fault", fmt.Sprintf("traffic stops; the HPA holds %d replicas for its %s scale-down window", asScaleDownMax, W), func() {
		drop = x.eventually(s, "the HPA to scale down", W+35*time.Second, func() bool {
			return x.specReplicas(s) < asScaleDownMax
		})
		if t, ok := x.firstReplicas(stopped, func(r autoscale.ReplicaSample) bool { return r.Desired < asScaleDownMax }); ok {
			drop = t // the observer saw it first; the poll above is 100 ms coarse
		}
		s.Expect(drop.Sub(stopped).Seconds(), "replicas held after the traffic stopped: at least the window (less the HPA's 1 s sync)").
			To(BeNumber(">=", (W - time.Second).Seconds(), "s"))
		s.Expect(x.conditionsSince(stopped), "the HPA's conditions while holding (API, as observed)").
			To(HaveLogLines("AbleToScale=True ScaleDownStabilized: recent recommendations were higher than current one", ">=", 1))
	})

	s.Phase("recovery", "the window has passed: replicas drop", func() {
		fell, cpu, ok := x.recommendationFell(stopped, asScaleDownMax)
		if !ok {
			s.Failf("replicas dropped but no HPA sample after the stop shows a utilization recommending fewer than %d; %s", asScaleDownMax, x.state())
		}
		s.Measure("the HPA's recommendation fell (first utilization recommending fewer replicas)", fell.Sub(stopped).Seconds(), "s after the stop",
			fmt.Sprintf("%d%% -> ceil(%d × %d/%d) = %d", cpu, asScaleDownMax, cpu, asCPUTarget, autoscale.DesiredReplicas(asScaleDownMax, float64(cpu), asCPUTarget, 1, asScaleDownMax)))
		// The HPA scales down at the first sync whose window holds no higher
		// recommendation: W after the last high one, which was one sync (1 s)
		// before the first low one.
		s.Expect(drop.Sub(fell).Seconds(), "from the fallen recommendation to the drop: the stabilization window (less up to one 1 s sync)").
			To(BeBetween((W - 2*time.Second).Seconds(), (W + time.Second).Seconds(), "s"))
		s.Expect(drop.Sub(stopped).Seconds(), "from the stop to the drop: the window plus at most two 10 s metrics samples").
			To(BeNumber("<=", (W + 22*time.Second).Seconds(), "s"))
		// The controller's event recorder sends the event after the rescale, and
		// the observer sees it a moment later still: wait (bounded) for it first.
		ectx, cancel := context.WithTimeout(s.Ctx, 10*time.Second)
		_ = x.obs.WaitFor(ectx, "the SuccessfulRescale event", func(o *autoscale.Observer) bool { return len(o.Events("SuccessfulRescale")) > 0 })
		cancel()
		s.Expect(x.eventLines("SuccessfulRescale"), "the HPA's event").To(HaveLogLines("reason: All metrics below target", ">=", 1))
		s.Expect(x.specReplicas(s), "deployment replicas (API)").To(BeNumber("<", asScaleDownMax, "replicas"))
		x.eventually(s, "the removed pods to be gone", 15*time.Second, func() bool {
			d := x.deployment(s)
			return d.Status.ReadyReplicas == *d.Spec.Replicas && len(x.sim.Endpoints()) == int(*d.Spec.Replicas)
		})
		s.Expect(x.podPhases(s), "pods (API)").To(beText(fmt.Sprintf("Running: %d", x.specReplicas(s))))
		x.logKubectl(s, "describe", "hpa", x.name)
	})
}

// conditionsSince lists every HPA condition observed at or after t, once each.
func (x *asLab) conditionsSince(t time.Time) []string {
	seen := map[string]bool{}
	var out []string
	for _, h := range x.obs.HPA(x.name) {
		if h.At.Before(t) {
			continue
		}
		for _, l := range conditionLines(h.Conditions) {
			if !seen[l] {
				seen[l] = true
				out = append(out, l)
			}
		}
	}
	return out
}

// recommendationFell finds the first HPA sample after t whose utilization
// recommends fewer than current replicas (the HPA's rule, with its 10%
// tolerance): when the scale-down stabilization window starts counting.
func (x *asLab) recommendationFell(t time.Time, current int32) (time.Time, int32, bool) {
	for _, h := range x.obs.HPA(x.name) {
		if h.At.Before(t) || h.CPUPercent == nil {
			continue
		}
		if autoscale.DesiredReplicas(current, float64(*h.CPUPercent), asCPUTarget, 1, current) < current {
			return h.At, *h.CPUPercent, true
		}
	}
	return time.Time{}, 0, false
}
