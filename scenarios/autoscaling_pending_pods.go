package scenarios

import (
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	. "github.com/chaoslab/chaoslab/assertions"
	"github.com/chaoslab/chaoslab/lab/cluster"
	"github.com/chaoslab/chaoslab/lab/cluster/autoscale"
	"github.com/chaoslab/chaoslab/load"
)

func init() {
	Register(Scenario{
		ID:    "autoscaling/pending-pods",
		Title: "The HPA scales out but the new pods stay Pending: no node has room",
		Symptom: "under a spike the HPA raises replicas, the new pods stay Pending with FailedScheduling '0/1 nodes are available: " +
			"1 Insufficient cpu' and latency stays high; after a node is added they run and p95 falls below half",
		Story: `Black Friday. The HPA does its job: CPU on the one API replica is at 200% of its request, so it asks for 4 replicas. ` +
			`But the node pool was sized for a normal day and has room for one pod of this size: the three new pods are created, ` +
			`the scheduler cannot place them, and they sit in Pending. Dashboards show the HPA at 4 desired, 1 ready, and latency ` +
			`still climbing. It ends when a node is added (by the cluster autoscaler, or by hand) and the pods land.

In the lab node-1 has 150m of allocatable CPU and each pod requests 100m. The second node is added with the lab's ` +
			`AddNode: it stands in for the cluster autoscaler (whose kwok provider this lab does not run). Pods and nodes are ` +
			`simulated by kwok; the scheduler, HPA controller and metrics-server are real. Each Running pod is played by a server on ` +
			`loopback (2 workers, 50 ms per request) and its CPU is modelled as 5 millicore-seconds per answered request.`,
		Lesson: `An HPA can only ask; the scheduler has to find room. Read the chain in order: "kubectl get hpa" (desired went up), ` +
			`"kubectl get pods -o wide" (Pending, no NODE), "kubectl get events --field-selector reason=FailedScheduling" ` +
			`("0/1 nodes are available: 1 Insufficient cpu") and "kubectl describe nodes" (Allocated resources: requests near ` +
			`allocatable). Requests, not usage, decide where pods fit: a node idling at 5% CPU is full if its pods' requests add up.

Fixes: add capacity (cluster autoscaler with enough max nodes, or by hand), right-size requests, and keep headroom for a ` +
			`spike (a few low-priority placeholder pods that the real ones preempt). With a cluster autoscaler, count its reaction ` +
			`time (a new VM takes minutes) into how long the spike is carried by too few pods.`,
		NeedsCluster: true,
		New:          func() Play { return &pendingPods{} },
	})
}

type pendingPods struct{ x *asLab }

const (
	asSmallNodeCPU = "150m" // room for one 100m pod
	asPendingMax   = 4
)

func (p *pendingPods) Setup(s *S) {
	s.measureClusterStart()
	p.x = s.startWorkload(autoscale.WorkloadSpec{Name: asWorkload, Replicas: 1, CPURequest: asCPURequest}, webReplica,
		cluster.NodeSpec{Name: "node-1", CPU: asSmallNodeCPU, Memory: "32Gi"})
	p.x.commonCommands(s)
	s.Command("Why the pods are not placed", p.x.kubectl("get events --field-selector reason=FailedScheduling"))
	nodes := "describe nodes"
	if sel := s.Cluster.NodeSelector(); sel != nil {
		nodes += " -l " + cluster.LabelTenant + "=" + sel[cluster.LabelTenant] // this scenario's nodes of the shared cluster
	}
	s.Command("Requests against allocatable per node (Allocated resources)", fmt.Sprintf("kubectl --kubeconfig %s %s", p.x.c.Kubeconfig, nodes))
	s.Note("replica model: " + webReplica.String())
}

func (p *pendingPods) Run(s *S) {
	x := p.x
	defer x.recordSeries(s)

	s.Phase("baseline", fmt.Sprintf("one replica at %g requests/s on node-1 (%s allocatable CPU); the HPA reads it", asBaselineRate, asSmallNodeCPU), func() {
		rs := x.loadWhile(s, "baseline", load.Constant(asBaselineRate), "the HPA reports CPU", func() {
			x.waitMetrics(s, 1)
			x.createHPA(s, autoscale.HPASpec{Min: 1, Max: asPendingMax, CPUPercent: asCPUTarget, ScaleDownWindow: time.Minute})
			x.waitHPAMetric(s)
		})
		s.Expect(rs, "every request succeeds").To(HaveSuccessShare(">=", 0.99))
		s.Expect(rs, "latency near the 50 ms service time").To(HaveLatencyQuantile(0.95, "<", 3*webReplica.Service))
		s.Expect(x.podPhases(s), "pods (API)").To(beText("Running: 1"))
		s.Expect(x.hpaCPU(s, x.hpa(s)), "the HPA's CPU utilization: below the target").To(BeNumber("<", asCPUTarget, "%"))
	})

	var (
		spike     *spanLoad
		t0, added time.Time // the spike began; node-2 was added
	)
	s.Phase("fault", fmt.Sprintf("spike to %g requests/s: the HPA asks for more pods; node-1 has no room", asSpikeRate), func() {
		s.Lab.Record("fault-applied", "load", fmt.Sprintf("spike %g requests/s", asSpikeRate))
		t0 = time.Now()
		spike = x.startLoad(s, "spike", load.Constant(asSpikeRate), "the pods run and have served it for 3 s")
		pending := x.eventually(s, "the HPA to scale out and a pod to fail scheduling", 40*time.Second, func() bool {
			return len(x.obs.Events("FailedScheduling")) > 0 && x.maxDesiredSince(t0) > 1
		})
		s.Measure("spike -> first FailedScheduling", pending.Sub(t0).Seconds(), "s", "metrics-server sample + HPA sync + scheduling attempt")
		s.Sleep(3 * time.Second) // Pending stays Pending: nothing will free room on node-1
		s.Expect(x.eventLines("SuccessfulRescale"), "the HPA scaled out (event)").
			To(HaveLogLines("cpu resource utilization (percentage of request) above target", ">=", 1))
		// "0/1 nodes are available: 1 Insufficient cpu." on a cluster of its
		// own; on the run's shared cluster the other scenarios' nodes are
		// counted too (as "didn't match Pod's node affinity/selector").
		s.Expect(x.eventLines("FailedScheduling"), "kubectl get events --field-selector reason=FailedScheduling").
			To(HaveLogLines("nodes are available: 1 Insufficient cpu", ">=", 1))
		s.Expect(x.pendingUnschedulable(s), "Pending pods with PodScheduled=False Unschedulable (API)").To(BeNumber(">=", 1, "pods"))
		d := x.deployment(s)
		s.Expect(int(d.Status.ReadyReplicas), "ready replicas (API): the one that fits").To(BeNumber("==", 1, "replicas"))
		s.Expect(int(*d.Spec.Replicas), "replicas the HPA wants (API)").To(BeNumber(">", 1, "replicas"))
		soFar := spike.soFar()
		s.Expect(distinctHeader(soFar, "X-Upstream-Name"), "replicas answering (X-Upstream-Name)").To(BeNumber("==", 1, "replicas"))
		s.Expect(soFar, "the one replica carries the spike (answers so far): latency far above its 50 ms service time").
			To(HaveLatencyQuantile(0.95, ">", 3*webReplica.Service))
		x.logKubectl(s, "get", "pods", "-o", "wide")
		x.logKubectl(s, "get", "events", "--field-selector", "reason=FailedScheduling")
	})

	s.Phase("fix", "add node-2 (4 CPUs), under the same spike: what the cluster autoscaler would do", func() {
		added = time.Now()
		s.Must(x.c.AddNodeSpec(s.Ctx, cluster.NodeSpec{Name: "node-2", CPU: "4", Memory: "32Gi"}), "adding node-2")
		s.Lab.Record("fix", "cluster", "node-2 added (4 CPUs)")
		running := x.eventually(s, "every wanted pod Running and serving", 30*time.Second, func() bool {
			want := x.specReplicas(s)
			return x.pendingUnschedulable(s) == 0 && len(x.sim.Endpoints()) >= want && want >= 3
		})
		s.Measure("node added -> every pod Running", running.Sub(added).Seconds(), "s", "kwok nodes are Ready at once; a cloud VM takes minutes")
		s.Expect(x.podPhases(s), "pods (API)").To(beText(fmt.Sprintf("Running: %d", x.specReplicas(s))))
		s.Expect(x.podsOn(s, x.c.NodeName("node-2")), "pods placed on node-2 (API)").To(BeNumber(">=", 2, "pods"))
		x.logKubectl(s, "get", "pods", "-o", "wide")
	})

	s.Phase("recovery", fmt.Sprintf("the same %g requests/s over the pods that now run; the first one's queue drains", asSpikeRate), func() {
		x.eventually(s, "the first replica's queue to drain (every answer of the last second within 150 ms)", 30*time.Second, func() bool {
			return spike.drained(3 * webReplica.Service)
		})
		s.Measure("queue drained after the node was added", time.Since(added).Seconds(), "s", "")
		after := time.Now()
		s.Sleep(3 * time.Second)
		rs := spike.end(s)
		s.Lab.Record("fault-removed", "load", fmt.Sprintf("spike %g requests/s", asSpikeRate))
		pending, served := rs.Between(t0, added), rs.Between(after, time.Now())
		s.Measure("p95 while pods were Pending", float64(pending.Quantile(0.95))/1e6, "ms", fmt.Sprintf("%d requests", len(pending)))
		s.Expect(rs, "requests succeed throughout, slowly while pods were Pending").To(HaveSuccessShare(">=", 0.99))
		s.Expect(served, "p95 once the pods run against the spike while they were Pending").
			To(HaveLatencyRatioTo("spike with pods pending", pending, 0.95, "<", 0.5))
		s.Expect(served, "latency near the 50 ms service time").To(HaveLatencyQuantile(0.95, "<", 3*webReplica.Service))
		s.Expect(distinctHeader(served, "X-Upstream-Name"), "replicas answering (X-Upstream-Name)").To(BeNumber(">=", 3, "replicas"))
	})
}

// pods lists the workload's pods from the API.
func (x *asLab) pods(s *S) []corev1.Pod {
	l, err := x.c.Client.CoreV1().Pods(x.w.Namespace).List(s.Ctx, metav1.ListOptions{LabelSelector: x.w.Selector().String()})
	s.Must(err, "listing pods")
	var out []corev1.Pod
	for _, p := range l.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

// podPhases is the workload's pods counted by phase, "Pending: 3, Running: 1".
func (x *asLab) podPhases(s *S) string {
	n := map[string]int{}
	for _, p := range x.pods(s) {
		n[string(p.Status.Phase)]++
	}
	keys := make([]string, 0, len(n))
	for k := range n {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, n[k])
	}
	return strings.Join(parts, ", ")
}

// pendingUnschedulable counts Pending pods the scheduler marked Unschedulable.
func (x *asLab) pendingUnschedulable(s *S) int {
	n := 0
	for _, p := range x.pods(s) {
		if p.Status.Phase != corev1.PodPending {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
				n++
			}
		}
	}
	return n
}

// podsOn counts the workload's pods bound to node.
func (x *asLab) podsOn(s *S, node string) int {
	n := 0
	for _, p := range x.pods(s) {
		if p.Spec.NodeName == node {
			n++
		}
	}
	return n
}
