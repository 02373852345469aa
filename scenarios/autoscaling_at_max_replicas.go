package scenarios

import (
	"fmt"
	"math"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"

	. "github.com/chaoslab/chaoslab/assertions"
	"github.com/chaoslab/chaoslab/lab/cluster"
	"github.com/chaoslab/chaoslab/lab/cluster/autoscale"
	"github.com/chaoslab/chaoslab/load"
)

func init() {
	Register(Scenario{
		ID:    "autoscaling/hpa-at-max-replicas",
		Title: "The HPA stops at maxReplicas while the load keeps climbing: CPU over target, latency stays high",
		Symptom: "under load above what maxReplicas pods can serve the HPA reports ScalingLimited=True TooManyReplicas, " +
			"replicas stay at the maximum, CPU stays over the 50% target and p95 far above the service time; " +
			"after maxReplicas is raised the HPA scales on and p95 falls below half",
		Story: `An API went live with the Helm values of its staging environment: an HPA with minReplicas 1 and ` +
			`maxReplicas 1, which nobody noticed while one replica was plenty. Today's peak is 50 requests per second, more than ` +
			`one replica answers: it runs at over 100% of its CPU request and latency climbs into seconds. The HPA is on, its ` +
			`target is 50%, the utilization is three to four times that, and yet nothing scales: "kubectl get hpa" shows ` +
			`REPLICAS 1 and MAXPODS 1. Dashboards say "autoscaling enabled", the pager says "p95 > 1 s".

In the lab the pods are simulated by kwok (or real pods with CLUSTER=node); each Running pod is played by a server with two ` +
			`workers and 50 ms per request (40 requests/s per replica) and its CPU is 5 millicore-seconds per answered request. ` +
			`The HPA controller, scheduler and metrics-server are the real ones.`,
		Lesson: `An HPA clamps its recommendation to [minReplicas, maxReplicas] and says so: "kubectl describe hpa" lists the ` +
			`condition "ScalingLimited True TooManyReplicas: the desired replica count is more than the maximum replica count", and ` +
			`there is no SuccessfulRescale event: there is nothing to rescale. The TARGETS column (e.g. 200%/50%) shows the ` +
			`gap, "kubectl top pods" shows every pod busy, and the latency is queueing, not slow code.

The fix is capacity: raise maxReplicas (kubectl patch hpa NAME -p '{"spec":{"maxReplicas":10}}', or in the values that own ` +
			`it) to what the peak needs, desired = ceil(current × utilization / target), with room for growth, and check that ` +
			`the nodes (or the cluster autoscaler's max) can hold that many pods. Alert on ScalingLimited=True with reason ` +
			`TooManyReplicas lasting more than a few minutes: it means the ceiling, not the HPA, decides.`,
		NeedsCluster: true,
		New:          func() Play { return &hpaAtMax{} },
	})
}

type hpaAtMax struct{ x *asLab }

const (
	asAtMaxMax    = 1    // the ceiling of the incident
	asAtMaxRaised = 10   // the fix: 50 requests/s need 5 at 50% (6-7 real pods), a few more while the queue drains
	asAtMaxRate   = 50.0 // requests/s: 1.25x what one replica answers
)

func (p *hpaAtMax) Setup(s *S) {
	s.measureClusterStart()
	p.x = s.startWorkload(autoscale.WorkloadSpec{Name: asWorkload, Replicas: asAtMaxMax, CPURequest: asCPURequest}, webReplica,
		cluster.NodeSpec{Name: "node-1", CPU: "8", Memory: "32Gi"})
	p.x.commonCommands(s)
	s.Command("Raise the ceiling (the fix)", p.x.kubectl(fmt.Sprintf(`patch hpa %s -p '{"spec":{"maxReplicas":%d}}'`, p.x.name, asAtMaxRaised)))
	s.Note("replica model: " + webReplica.String())
}

func (p *hpaAtMax) Run(s *S) {
	x := p.x
	defer x.recordSeries(s)

	s.Phase("baseline", fmt.Sprintf("one replica at %g requests/s; the HPA (min 1, max %d, target %d%%) reads it", asBaselineRate, asAtMaxMax, asCPUTarget), func() {
		rs := x.loadWhile(s, "baseline", load.Constant(asBaselineRate), "the HPA reports CPU", func() {
			x.waitMetrics(s, asAtMaxMax)
			x.createHPA(s, autoscale.HPASpec{Min: 1, Max: asAtMaxMax, CPUPercent: asCPUTarget, ScaleDownWindow: time.Minute,
				// Once the ceiling is raised, one step to what the load
				// needs (the default allows 4 pods per 15 s).
				ScaleUpPolicies: []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: asAtMaxRaised, PeriodSeconds: 15}}})
			x.waitHPAMetric(s)
		})
		s.Expect(rs, "every request succeeds").To(HaveSuccessShare(">=", 0.99))
		s.Expect(rs, "one replica keeps up: latency near the 50 ms service time").To(HaveLatencyQuantile(0.95, "<", 3*webReplica.Service))
		s.Expect(x.hpaCPU(s, x.hpa(s)), "the HPA's CPU utilization: below the target").To(BeNumber("<", asCPUTarget, "%"))
		s.Expect(x.specReplicas(s), "deployment replicas (API)").To(BeNumber("==", asAtMaxMax, "replicas"))
	})

	var (
		peak    *spanLoad
		t0, fix time.Time // the load rose; maxReplicas was raised
	)
	s.Phase("fault", fmt.Sprintf("load rises to %g requests/s, %.2fx what maxReplicas (%d) answer (%.0f/s): the HPA is at its maximum",
		asAtMaxRate, asAtMaxRate/(asAtMaxMax*webReplica.Capacity()), asAtMaxMax, asAtMaxMax*webReplica.Capacity()), func() {
		s.Lab.Record("fault-applied", "load", fmt.Sprintf("load %g requests/s with maxReplicas %d", asAtMaxRate, asAtMaxMax))
		t0 = time.Now()
		peak = x.startLoad(s, "peak", load.Constant(asAtMaxRate), "more replicas have served it for 4 s")
		limited := x.waitFor(s, "the HPA to report ScalingLimited=True TooManyReplicas", 40*time.Second, func(o *autoscale.Observer) bool {
			return x.limitedSince(o, t0) && x.cpuOver(o)
		})
		s.Measure("load rose -> ScalingLimited TooManyReplicas", limited.Sub(t0).Seconds(), "s", "metrics-server sample + HPA sync")
		// The ceiling holds: nothing changes but the queue (kept short: on a
		// real pod at its CPU limit every second here is seconds of draining).
		s.Sleep(2 * time.Second)
		h := x.hpa(s)
		s.Expect(conditionLines(h.Status.Conditions), "kubectl describe hpa: the desired count is over the maximum (API)").
			To(HaveLogLines("ScalingLimited=True TooManyReplicas: the desired replica count is more than the maximum replica count", "==", 1))
		cpu := x.hpaCPU(s, h)
		s.Expect(cpu, "the HPA's CPU utilization: over the target").To(BeNumber(">", 1.5*asCPUTarget, "%"))
		s.Measure("replicas the HPA would want without the ceiling", math.Ceil(float64(asAtMaxMax)*cpu/asCPUTarget), "replicas",
			fmt.Sprintf("ceil(%d × %.0f%% / %d%%)", asAtMaxMax, cpu, asCPUTarget))
		s.Expect(int(h.Status.DesiredReplicas), "the HPA's desired replicas (API): clamped to maxReplicas").To(BeNumber("==", asAtMaxMax, "replicas"))
		s.Expect(int(x.maxDesiredSince(t0)), "deployment replicas since the load rose (as observed)").To(BeNumber("==", asAtMaxMax, "replicas"))
		s.Expect(x.rescalesSince(t0), "SuccessfulRescale events since the load rose: nothing to rescale").To(BeNumber("==", 0, "events"))
		soFar := peak.soFar()
		s.Expect(distinctHeader(soFar, "X-Upstream-Name"), "replicas answering (X-Upstream-Name)").To(BeNumber("==", asAtMaxMax, "replicas"))
		s.Expect(soFar, "the replica at the ceiling (answers so far): latency far above the 50 ms service time").
			To(HaveLatencyQuantile(0.95, ">", 3*webReplica.Service))
		x.logKubectl(s, "describe", "hpa", x.name)
	})

	s.Phase("fix", fmt.Sprintf("raise maxReplicas %d -> %d under the same load", asAtMaxMax, asAtMaxRaised), func() {
		fix = time.Now()
		patch := fmt.Appendf(nil, `{"spec":{"maxReplicas":%d}}`, asAtMaxRaised)
		_, err := x.c.Client.AutoscalingV2().HorizontalPodAutoscalers(x.w.Namespace).Patch(s.Ctx, x.name, k8stypes.MergePatchType, patch, metav1.PatchOptions{})
		s.Must(err, "raising maxReplicas of hpa "+x.name)
		s.Lab.Record("fix", "hpa", fmt.Sprintf("hpa %s: maxReplicas %d -> %d", x.name, asAtMaxMax, asAtMaxRaised))
		scaled := x.eventually(s, "more replicas ready and serving", 40*time.Second, func() bool {
			return x.specReplicas(s) > asAtMaxMax && len(x.sim.Endpoints()) >= x.specReplicas(s)
		})
		s.Measure("maxReplicas raised -> the new replicas serve", scaled.Sub(fix).Seconds(), "s", "HPA sync + pod start")
		s.Expect(x.eventLines("SuccessfulRescale"), "the HPA scaled out (event)").
			To(HaveLogLines("cpu resource utilization (percentage of request) above target", ">=", 1))
	})

	s.Phase("recovery", fmt.Sprintf("the same %g requests/s over the new replicas; the first one's queue drains", asAtMaxRate), func() {
		// Real pods the HPA adds while the queue drains serve their first
		// requests cold: measure once every wanted pod serves.
		x.eventually(s, "every wanted replica serving and the queue drained (every answer of the last second within 150 ms)", 30*time.Second, func() bool {
			return len(x.sim.Endpoints()) >= x.specReplicas(s) && peak.drained(3*webReplica.Service)
		})
		s.Measure("queue drained after maxReplicas was raised", time.Since(fix).Seconds(), "s", "")
		after := time.Now()
		s.Sleep(4 * time.Second)
		rs := peak.end(s)
		s.Lab.Record("fault-removed", "load", fmt.Sprintf("maxReplicas %d", asAtMaxRaised))
		limited, served := rs.Between(t0, fix), rs.Between(after, time.Now())
		s.Measure("p95 at the ceiling", float64(limited.Quantile(0.95))/1e6, "ms", fmt.Sprintf("%d requests sent before maxReplicas was raised", len(limited)))
		s.Measure("p95 after the fix", float64(served.Quantile(0.95))/1e6, "ms", fmt.Sprintf("%d requests sent in the last 4 s", len(served)))
		// Sustained overload at the ceiling: a request that waited in the
		// queue longer than the client's 10 s timeout is the incident's end
		// state (on a real pod at its CPU limit it comes within the fault's
		// seconds), but nothing is refused.
		s.Expect(rs, "requests are answered or time out waiting in the queue, none refused").
			To(HaveShare("200 or a client timeout", func(r load.Result) bool { return r.Code == 200 || r.ErrorKind == load.ErrTimeout }, ">=", 0.99))
		s.Expect(served, "every request succeeds after the fix").To(HaveSuccessShare(">=", 0.99))
		s.Expect(served, "p95 after the fix against the p95 at the ceiling").
			To(HaveLatencyRatioTo("at maxReplicas", limited, 0.95, "<", 0.5))
		s.Expect(served, "latency back near the 50 ms service time").To(HaveLatencyQuantile(0.95, "<", 3*webReplica.Service))
		s.Expect(distinctHeader(served, "X-Upstream-Name"), "replicas answering (X-Upstream-Name)").To(BeNumber(">", asAtMaxMax, "replicas"))
		h := x.hpa(s)
		s.Expect(conditionLines(h.Status.Conditions), "the HPA no longer wants more than its maximum (API)").
			To(HaveLogLines("ScalingLimited=True TooManyReplicas", "==", 0))
		s.Note("requests per replica after the fix: " + servedBy(served))
		x.logKubectl(s, "describe", "hpa", x.name)
	})
}

// limitedSince reports whether the HPA's latest status, observed after t,
// has ScalingLimited=True with reason TooManyReplicas.
func (x *asLab) limitedSince(o *autoscale.Observer, t time.Time) bool {
	hs := o.HPA(x.name)
	if len(hs) == 0 || hs[len(hs)-1].At.Before(t) {
		return false
	}
	for _, c := range hs[len(hs)-1].Conditions {
		if c.Type == autoscalingv2.ScalingLimited {
			return c.Status == "True" && c.Reason == "TooManyReplicas"
		}
	}
	return false
}

// cpuOver reports whether the HPA's latest CPU utilization is over the target.
func (x *asLab) cpuOver(o *autoscale.Observer) bool {
	hs := o.HPA(x.name)
	return len(hs) > 0 && hs[len(hs)-1].CPUPercent != nil && *hs[len(hs)-1].CPUPercent > asCPUTarget
}

// rescalesSince counts the SuccessfulRescale events observed after t.
func (x *asLab) rescalesSince(t time.Time) int {
	n := 0
	for _, e := range x.obs.Events("SuccessfulRescale") {
		if e.At.After(t) {
			n++
		}
	}
	return n
}
