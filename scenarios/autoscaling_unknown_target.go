package scenarios

import (
	"fmt"
	"strings"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"

	. "github.com/chaoslab/chaoslab/assertions"
	"github.com/chaoslab/chaoslab/lab/cluster"
	"github.com/chaoslab/chaoslab/lab/cluster/autoscale"
	"github.com/chaoslab/chaoslab/load"
)

func init() {
	Register(Scenario{
		ID:    "autoscaling/hpa-unknown-target",
		Title: "An HPA on pods without CPU requests never scales: <unknown>/50%",
		Symptom: "no CPU request: ScalingActive=False (FailedGetResourceMetric: missing request for cpu) and replicas stay at 1 " +
			"under load metrics-server reports; after setting a 100m request the HPA scales to >= 3",
		Story: `Before a sale, a team puts a HorizontalPodAutoscaler (50% CPU, 1 to 8 replicas) on its checkout service. The ` +
			`Deployment comes from an old chart that sets no resource requests. Traffic grows, "kubectl top" shows the one pod using ` +
			`160m, and nothing scales: "kubectl get hpa" shows TARGETS <unknown>/50%.

CPU utilization is usage divided by the container's request. Without a request there is nothing to divide by, so the HPA ` +
			`controller refuses to compute a replica count at all; it does not fall back to anything. Setting the request rolls out new ` +
			`pods, and one or two metrics-server scrapes later the HPA sees 160% of the new 100m request and scales out.

In the lab the pods are simulated by kwok and played by servers on loopback (2 workers, 50 ms per request); their CPU is ` +
			`modelled as 5 millicore-seconds per answered request, so 32 requests/s is 160m. The HPA controller and metrics-server are real.`,
		Lesson: `Recognise it: TARGETS <unknown> in "kubectl get hpa", and in "kubectl describe hpa" the condition ScalingActive=False ` +
			`with reason FailedGetResourceMetric and the message "missing request for cpu in container app of Pod ...". The events ` +
			`FailedGetResourceMetric and FailedComputeMetricsReplicas say the same, but events are rate-limited (25 per object, then one ` +
			`per 5 minutes): on an HPA that has failed for hours the condition is the reliable witness.

Fix: give every container of the pod a CPU request (sidecars too: one container without a request is enough to break ` +
			`utilization for the whole pod), e.g. "kubectl set resources deployment web --requests=cpu=100m". Expect a delay: the new ` +
			`pods need metrics-server samples before the HPA acts. Alternatives: a target of type AverageValue (absolute millicores) ` +
			`needs no request. Prevent it with a LimitRange that sets default requests, or an admission policy that rejects pods without them.`,
		NeedsCluster: true,
		New:          func() Play { return &hpaUnknownTarget{} },
	})
}

type hpaUnknownTarget struct{ x *asLab }

// asBusyRate keeps one replica busy without overloading it: 80% of its 40/s,
// 160m of modelled CPU, which against a 100m request is 160%.
const asBusyRate = 32.0

func (p *hpaUnknownTarget) Setup(s *S) {
	s.measureClusterStart()
	p.x = s.startWorkload(autoscale.WorkloadSpec{Name: asWorkload, Replicas: 1}, webReplica,
		cluster.NodeSpec{Name: "node-1", CPU: "8", Memory: "32Gi"})
	p.x.commonCommands(s)
	s.Command("The fix: set a CPU request (rolls out new pods)", p.x.kubectl("set resources deployment "+asWorkload+" --requests=cpu="+asCPURequest))
	s.Note("replica model: " + webReplica.String())
}

func (p *hpaUnknownTarget) Run(s *S) {
	x := p.x
	defer x.recordSeries(s)
	busy := load.Constant(asBusyRate)

	s.Phase("baseline", fmt.Sprintf("one replica at %g requests/s, no HPA yet, while metrics-server samples it", asBusyRate), func() {
		rs := x.loadWhile(s, "busy, no HPA", busy, "metrics-server reports the pod", func() { x.waitMetrics(s, 1) })
		s.Expect(rs, "every request succeeds").To(HaveSuccessShare(">=", 0.99))
		s.Expect(rs, "one replica keeps up: latency near its 50 ms service time").To(HaveLatencyQuantile(0.95, "<", 3*webReplica.Service))
		s.Expect(cpuRequest(x.deployment(s)), "the container's CPU request (API)").To(beText("<none>"))
		_, top := x.topPods(s)
		s.Expect(float64(top), "kubectl top pods: CPU metrics-server reports (the HPA's input is there)").
			To(BeBetween(0.5*webReplica.Millicores(asBusyRate), 1.5*webReplica.Millicores(asBusyRate)+1, "m"))
	})

	var created time.Time
	s.Phase("fault", fmt.Sprintf("an HPA (target %d%% CPU) on the Deployment without requests, under the same load", asCPUTarget), func() {
		rs := x.loadWhile(s, "busy, HPA blind", busy, "the HPA has failed for 5 s", func() {
			created = time.Now()
			x.createHPA(s, autoscale.HPASpec{Min: 1, Max: 8, CPUPercent: asCPUTarget, ScaleDownWindow: time.Minute})
			s.Lab.Record("fault-applied", "hpa", "no CPU request: utilization cannot be computed")
			x.eventually(s, "ScalingActive=False: missing request for cpu", 15*time.Second, func() bool {
				return x.lastConditionHas(autoscalingv2.ScalingActive, "False", "missing request for cpu")
			})
			s.Measure("HPA created -> ScalingActive=False", time.Since(created).Seconds(), "s", "")
			// Five HPA syncs with the input present: a working HPA would have scaled.
			s.Sleep(5 * time.Second)
		})
		s.Expect(rs, "requests succeed (the pod is busy, not overloaded)").To(HaveSuccessShare(">=", 0.99))
		h := x.hpa(s)
		s.Expect(conditionLines(h.Status.Conditions), "the HPA's condition (API)").
			To(HaveLogLines("ScalingActive=False FailedGetResourceMetric: the HPA was unable to compute the replica count: failed to get cpu utilization: missing request for cpu in container app of Pod", "==", 1))
		s.Expect(pct(autoscale.HPACPUPercent(h)), "kubectl get hpa TARGETS: the current utilization").To(beText("<unknown>"))
		s.Expect(x.eventLines("FailedGetResourceMetric"), "events (kubectl describe hpa)").
			To(HaveLogLines("missing request for cpu in container app of Pod", ">=", 1))
		_, top := x.topPods(s)
		s.Expect(float64(top), "kubectl top pods: the pod's CPU the HPA cannot turn into a utilization").
			To(BeNumber(">=", 2*asCPUTarget, "m"))
		x.logKubectl(s, "top", "pods")
		s.Measure("replicas a 100m request would have asked for", float64(autoscale.DesiredReplicas(1, float64(top), asCPUTarget, 1, 8)),
			"replicas", fmt.Sprintf("ceil(1 × %dm/100m / %d%%)", top, asCPUTarget))
		s.Expect(int(x.maxDesiredSince(created)), "deployment replicas since the HPA was created (never changed)").To(BeNumber("==", 1, "replicas"))
		s.Lab.Record("fault-removed", "hpa", "no CPU request: utilization cannot be computed")
		x.logKubectl(s, "get", "hpa", x.name)
	})

	s.Phase("fix", "set a 100m CPU request (kubectl set resources): new pods roll out, metrics-server samples them, the HPA scales", func() {
		var scaled time.Time
		t0 := time.Now()
		rs := x.loadWhile(s, "busy, request set", busy, "3 replicas are ready", func() {
			x.setCPURequest(s, asCPURequest)
			scaled = x.eventually(s, "ScalingActive=True and 3 ready replicas serving", 45*time.Second, func() bool {
				return x.lastConditionHas(autoscalingv2.ScalingActive, "True", "") &&
					x.obs.MaxReplicas(x.name) >= 3 && len(x.sim.Endpoints()) >= 3
			})
		})
		s.Expect(cpuRequest(x.deployment(s)), "the container's CPU request (API)").To(beText(asCPURequest))
		// The old pod goes away with requests in flight (the simulated pods
		// have no grace period): a request or two may fail.
		s.Expect(rs, "requests succeed through the rollout").To(HaveSuccessShare(">=", 0.98))
		s.Expect(scaled.Sub(t0).Seconds(), "time from the fix to 3 ready replicas (rollout + metrics-server's first samples of the new pod + HPA sync)").
			To(BeNumber("<=", 40, "s"))
		s.Expect(x.eventLines("SuccessfulRescale"), "the HPA scales on CPU now").
			To(HaveLogLines("cpu resource utilization (percentage of request) above target", ">=", 1))
	})

	s.Phase("recovery", fmt.Sprintf("the same %g requests/s over the new replicas", asBusyRate), func() {
		rs := s.Attack("scaled out", get(x.svc+"/"), busy, 3*time.Second)
		s.Expect(rs, "every request succeeds").To(HaveSuccessShare(">=", 0.99))
		s.Expect(rs, "latency near the 50 ms service time").To(HaveLatencyQuantile(0.95, "<", 3*webReplica.Service))
		s.Expect(distinctHeader(rs, "X-Upstream-Name"), "replicas answering (X-Upstream-Name)").To(BeNumber(">=", 3, "replicas"))
		h := x.hpa(s)
		s.Expect(conditionLines(h.Status.Conditions), "the HPA's condition (API)").
			To(HaveLogLines("ScalingActive=True ValidMetricFound", "==", 1))
		s.Measure("the HPA's CPU utilization", x.hpaCPU(s, h), "%", "kubectl get hpa TARGETS, no longer <unknown>")
		s.Expect(x.specReplicas(s), "deployment replicas (API)").To(BeNumber(">=", 3, "replicas"))
		x.logKubectl(s, "describe", "hpa", x.name)
	})
}

// lastConditionHas reports whether the HPA's latest observed status has
// condition t with status and (if not empty) a message containing msg.
func (x *asLab) lastConditionHas(t autoscalingv2.HorizontalPodAutoscalerConditionType, status, msg string) bool {
	hs := x.obs.HPA(x.name)
	if len(hs) == 0 {
		return false
	}
	for _, c := range hs[len(hs)-1].Conditions {
		if c.Type == t {
			return string(c.Status) == status && strings.Contains(c.Message, msg)
		}
	}
	return false
}
