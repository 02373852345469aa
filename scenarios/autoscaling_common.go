package scenarios

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"

	"github.com/onsi/gomega/types"

	"github.com/chaoslab/chaoslab/lab/cluster"
	"github.com/chaoslab/chaoslab/lab/cluster/autoscale"
	"github.com/chaoslab/chaoslab/load"
	"github.com/chaoslab/chaoslab/reports"
)

// The autoscaling family runs on a Kubernetes cluster (NeedsCluster): the
// real kube-apiserver, scheduler and controller-manager (its HPA controller)
// and metrics-server, with kwok simulating nodes and pods. Each Running pod is
// played by a fake upstream on loopback (replicaModel, autoscaling_replica.go) and its CPU
// usage is modelled from the requests it answered, so the autoscaler's loop is
// closed by real load.

// The HPA every scenario of the family uses, unless it says otherwise.
const (
	asCPURequest = "100m"
	asCPUTarget  = 50 // percent of the request
	asWorkload   = "web"
)

// realRequestOverhead is the CPU a real pod spends besides its
// --cpu-per-request burn (net/http, the latency timer, the 1 s readiness
// probes, the Go runtime), counted per request at the baseline rate: 8
// requests/s at 5 ms burnt read 51-54m in metrics-server, not 40m
// (TestNodeClusterRealPodsAndNothingLeft: 215m at 10 requests/s of 20 ms).
// The burn is the model's cost less this, so the baseline reads about 40%.
const realRequestOverhead = 1750 * time.Microsecond

// realLimitHeadroom: the limit is this many times the CPU a saturated pod
// uses (capacity × cost: 200m), so it never binds. The pod's capacity is its
// workers, as in the model, on any machine that gives it the CPU. A limit
// that bound (150m, until 2026-12) made the capacity the machine's: CFS
// throttling shared 15 ms per 100 ms among every queued request, and on a
// slower CI host the one pending-pods replica queued past the clients' 10 s
// timeout (2.9% timeouts) where the model's queue grows 0.25 s per second.
const realLimitHeadroom = 2

// realPodSpec is spec for real pods playing model: the model's CPU cost (less
// the measured overhead) burnt per request within its service time, its
// workers as the pod's line, and a limit that does not bind.
func realPodSpec(spec autoscale.WorkloadSpec, model replicaModel) autoscale.WorkloadSpec {
	spec.CPUPerRequest = time.Duration(model.CPUCost*float64(time.Millisecond)) - realRequestOverhead
	spec.Latency = model.Service // the burn is part of it (fake upstream's --latency counts it)
	spec.Workers = model.Workers
	spec.CPULimit = autoscale.FormatMillicores(int64(model.Capacity() * model.CPUCost * realLimitHeadroom))
	return spec
}

// asLab is the topology of one autoscaling scenario: a workload on the
// cluster, its simulated replicas, a loopback URL standing in for its Service,
// and an observer recording the Deployment, the HPA and events.
type asLab struct {
	c     *cluster.Cluster
	w     *autoscale.Workload
	sim   *autoscale.Simulator
	obs   *autoscale.Observer
	svc   string // http://127.0.0.1:PORT: the Service's stand-in; load goes here
	model replicaModel
	name  string
}

// measureClusterStart records what the scenario waited for its cluster: a
// control plane of its own, or a namespace of the run's shared one.
func (s *S) measureClusterStart() {
	c := s.Cluster
	if c.Shared {
		s.Measure("cluster start", c.Started.Seconds(), "s", fmt.Sprintf("namespace %s on the run's shared %s cluster %s (control plane and metrics-server already up)", c.Namespace, c.Provider, c.Name))
		return
	}
	s.Measure("cluster start", c.Started.Seconds(), "s", c.Provider+" control plane, metrics-server registered")
}

// startWorkload adds the nodes, deploys spec, starts the simulated replicas
// and the Service stand-in, and waits for the first replicas to be Ready.
// Everything stops when the lab closes, before the cluster is deleted.
func (s *S) startWorkload(spec autoscale.WorkloadSpec, model replicaModel, nodes ...cluster.NodeSpec) *asLab {
	c := s.Cluster
	x := &asLab{c: c, model: model, name: spec.Name}
	if c.RealPods() {
		// The same replica on a real node: the model's workers and service
		// time, with model.CPUCost ms of real CPU per request.
		spec = realPodSpec(spec, model)
		res := "no CPU request (so no limit either)"
		if spec.CPURequest != "" {
			res = fmt.Sprintf("CPU request %s, limit %s", spec.CPURequest, spec.CPULimit)
		}
		s.Note(fmt.Sprintf("real pods on %s: `chaoslab fake upstream --cpu-per-request %s --latency %s --workers %d` from a FROM-scratch image, %s; "+
			"metrics-server reads their CPU from the kubelet", c.Provider, spec.CPUPerRequest, spec.Latency, spec.Workers, res))
	}
	for _, n := range nodes {
		s.Must(c.AddNodeSpec(s.Ctx, n), "adding node "+n.Name)
	}
	// Before any pod exists, so every pod's CPU counter starts when it does.
	clock := startKubeletClock(s.Ctx, c, time.Second)
	s.Lab.OnClose("kubelet clock", clock.Close)
	obs, err := autoscale.Observe(s.Ctx, c, "")
	s.Must(err, "watching the namespace")
	x.obs = obs
	s.Lab.OnClose("observer", func() error { obs.Close(); return nil })

	spec.CPUCostPerRequest = model.CPUCost
	x.w, err = autoscale.Deploy(s.Ctx, c, spec)
	s.Must(err, "deploying "+spec.Name)
	x.sim, err = autoscale.Simulate(s.Ctx, x.w, model.factory())
	s.Must(err, "simulating the replicas of "+spec.Name)
	s.Lab.OnClose("replicas of "+spec.Name, x.sim.Close)

	var lc net.ListenConfig
	ln, err := lc.Listen(s.Ctx, "tcp", "127.0.0.1:0")
	s.Must(err, "listening for the Service stand-in")
	front := &http.Server{Handler: x.sim.Handler(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = front.Serve(ln)
	}()
	s.Lab.OnClose("service "+spec.Name, func() error {
		err := front.Close()
		<-served
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		return err
	})
	x.svc = "http://" + ln.Addr().String()

	want := max(spec.Replicas, 1)
	// A setup wait, not a verdict: nothing is asserted about how fast the
	// first pods come up. 30 s was too short for a crowded CI host, where
	// kwok's single pod took longer while another control plane ran.
	x.within(s, fmt.Sprintf("%d ready replicas of %s", want, spec.Name), 90*time.Second, func(ctx context.Context) error {
		if err := x.w.WaitReady(ctx, want); err != nil {
			return err
		}
		// Ready in the API is not yet routed: wait for the Service stand-in too.
		for len(x.sim.Endpoints()) < int(want) {
			select {
			case <-ctx.Done():
				return fmt.Errorf("%d of %d ready pods routed (%v)", len(x.sim.Endpoints()), want, x.sim.Errors())
			case <-time.After(100 * time.Millisecond):
			}
		}
		return nil
	})
	s.Lab.Record("started", "cluster", fmt.Sprintf("deployment %s/%s with %d replica(s); its Service stands in at %s", x.w.Namespace, spec.Name, want, x.svc))
	return x
}

// within runs wait with a deadline and fails the scenario if it errs.
func (x *asLab) within(s *S, what string, d time.Duration, wait func(context.Context) error) {
	ctx, cancel := context.WithTimeout(s.Ctx, d)
	defer cancel()
	if err := wait(ctx); err != nil {
		s.failAt(fmt.Sprintf("waiting for %s (up to %s): %v", what, d, err), 1)
	}
}

// waitFor waits until cond holds on the observer's records.
func (x *asLab) waitFor(s *S, what string, d time.Duration, cond func(*autoscale.Observer) bool) time.Time {
	ctx, cancel := context.WithTimeout(s.Ctx, d)
	defer cancel()
	if err := x.obs.WaitFor(ctx, what, cond); err != nil {
		s.failAt(fmt.Sprintf("%v (waited %s); %s", err, d, x.state()), 1)
	}
	return time.Now()
}

// eventually polls cond every 100 ms until it holds (and returns when) or
// within passes (and fails the scenario with the cluster's state).
func (x *asLab) eventually(s *S, what string, within time.Duration, cond func() bool) time.Time {
	var at time.Time
	s.Eventually(what, within, 100*time.Millisecond, func() error {
		if cond() {
			at = time.Now()
			return nil
		}
		return errors.New(x.state())
	})
	return at
}

// hpaCPU is h's current CPU utilization in percent; the scenario fails if the
// HPA has none.
func (x *asLab) hpaCPU(s *S, h *autoscalingv2.HorizontalPodAutoscaler) float64 {
	p := autoscale.HPACPUPercent(h)
	if p == nil {
		s.failAt("the HPA reports no CPU utilization: "+strings.Join(conditionLines(h.Status.Conditions), "; "), 1)
	}
	return float64(*p)
}

// state describes the Deployment and HPA as last observed, for failures.
func (x *asLab) state() string {
	var b strings.Builder
	if x.obs == nil {
		return "(no cluster observed)"
	}
	if rs := x.obs.Replicas(x.name); len(rs) > 0 {
		l := rs[len(rs)-1]
		fmt.Fprintf(&b, "deployment %s: %d desired, %d ready", x.name, l.Desired, l.Ready)
	}
	if hs := x.obs.HPA(x.name); len(hs) > 0 {
		l := hs[len(hs)-1]
		fmt.Fprintf(&b, "; hpa: current %d desired %d cpu %s; %s", l.Current, l.Desired, pct(l.CPUPercent), strings.Join(conditionLines(l.Conditions), "; "))
	}
	return b.String()
}

func pct(p *int32) string {
	if p == nil {
		return "<unknown>"
	}
	return fmt.Sprintf("%d%%", *p)
}

// waitMetrics waits until metrics-server reports n pods of the workload: two
// scrapes of each, 10 to 20 s after a pod starts. An HPA created before that
// would only report "no metrics returned" (and spend its event budget on it).
func (x *asLab) waitMetrics(s *S, n int) {
	t0 := time.Now()
	x.within(s, fmt.Sprintf("metrics-server to report %d pod(s) of %s", n, x.name), 45*time.Second, func(ctx context.Context) error {
		return x.w.WaitMetrics(ctx, n)
	})
	s.Measure("metrics-server's first report of the pods", time.Since(t0).Seconds(), "s", "two scrapes at its 10 s resolution")
}

// createHPA creates the workload's HorizontalPodAutoscaler.
func (x *asLab) createHPA(s *S, spec autoscale.HPASpec) {
	spec.Target, spec.Name = x.name, x.name
	_, err := autoscale.HPA(s.Ctx, x.c, spec)
	s.Must(err, "creating the HPA")
	s.Lab.Record("started", "hpa", fmt.Sprintf("hpa %s: min %d max %d, target %d%% CPU, scale-up window %s, scale-down window %s",
		spec.Name, spec.Min, spec.Max, spec.CPUPercent, spec.ScaleUpWindow, spec.ScaleDownWindow))
}

// waitHPAMetric waits until the HPA reports the workload's CPU utilization.
func (x *asLab) waitHPAMetric(s *S) time.Time {
	return x.waitFor(s, "the HPA to report CPU utilization", 30*time.Second, func(o *autoscale.Observer) bool {
		hs := o.HPA(x.name)
		return len(hs) > 0 && hs[len(hs)-1].CPUPercent != nil
	})
}

// deployment reads the Deployment from the API.
func (x *asLab) deployment(s *S) *appsv1.Deployment {
	d, err := x.c.Client.AppsV1().Deployments(x.w.Namespace).Get(s.Ctx, x.name, metav1.GetOptions{})
	s.Must(err, "reading deployment "+x.name)
	return d
}

// hpa reads the HPA from the API.
func (x *asLab) hpa(s *S) *autoscalingv2.HorizontalPodAutoscaler {
	h, err := x.c.Client.AutoscalingV2().HorizontalPodAutoscalers(x.w.Namespace).Get(s.Ctx, x.name, metav1.GetOptions{})
	s.Must(err, "reading hpa "+x.name)
	return h
}

// specReplicas is the Deployment's spec.replicas (what the HPA set).
func (x *asLab) specReplicas(s *S) int {
	d := x.deployment(s)
	if d.Spec.Replicas == nil {
		return 1
	}
	return int(*d.Spec.Replicas)
}

// cpuRequest is the CPU request of the workload's container in the
// Deployment's pod template, "<none>" if it has none.
func cpuRequest(d *appsv1.Deployment) string {
	for _, c := range d.Spec.Template.Spec.Containers {
		if q, ok := c.Resources.Requests[corev1.ResourceCPU]; ok {
			return q.String()
		}
	}
	return "<none>"
}

// setCPURequest is `kubectl set resources deployment NAME --requests=cpu=Q`:
// a patch of the pod template, so the Deployment rolls out new pods.
func (x *asLab) setCPURequest(s *S, q string) {
	patch := fmt.Appendf(nil, `{"spec":{"template":{"spec":{"containers":[{"name":"app","resources":{"requests":{"cpu":%q}}}]}}}}`, q)
	_, err := x.c.Client.AppsV1().Deployments(x.w.Namespace).Patch(s.Ctx, x.name, k8stypes.StrategicMergePatchType, patch, metav1.PatchOptions{})
	s.Must(err, "setting the CPU request of deployment "+x.name)
	s.Lab.Record("fix", "deployment", fmt.Sprintf("deployment %s: CPU request %s", x.name, q))
}

// topPods is `kubectl top pods`: each pod's CPU in millicores as
// metrics-server reports it (what the HPA reads), and their sum.
func (x *asLab) topPods(s *S) (map[string]int64, int64) {
	pm, err := x.w.Metrics(s.Ctx)
	s.Must(err, "reading pod metrics")
	var sum int64
	for _, m := range pm {
		sum += m
	}
	return pm, sum
}

// maxDesiredSince is the highest spec.replicas observed at or after t
// (including the value in force at t).
func (x *asLab) maxDesiredSince(t time.Time) int32 {
	m, _ := x.replicasAt(t)
	for _, r := range x.obs.Replicas(x.name) {
		if !r.At.Before(t) {
			m = max(m, r.Desired)
		}
	}
	return m
}

// conditionLines renders HPA conditions the way `kubectl describe hpa` lists them.
func conditionLines(cs []autoscalingv2.HorizontalPodAutoscalerCondition) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, fmt.Sprintf("%s=%s %s: %s", c.Type, c.Status, c.Reason, c.Message))
	}
	return out
}

// eventLines are the recorded events with one of reasons, one line each.
func (x *asLab) eventLines(reasons ...string) []string {
	var out []string
	for _, e := range x.obs.Events(reasons...) {
		out = append(out, e.String())
	}
	return out
}

// replicasAt is the Deployment's desired and ready replicas as observed at t.
func (x *asLab) replicasAt(t time.Time) (desired, ready int32) {
	for _, r := range x.obs.Replicas(x.name) {
		if r.At.After(t) {
			break
		}
		desired, ready = r.Desired, r.Ready
	}
	return desired, ready
}

// firstReplicas is when the observer first saw the Deployment satisfy ok, at
// or after from.
func (x *asLab) firstReplicas(from time.Time, ok func(autoscale.ReplicaSample) bool) (time.Time, bool) {
	for _, r := range x.obs.Replicas(x.name) {
		if !r.At.Before(from) && ok(r) {
			return r.At, true
		}
	}
	return time.Time{}, false
}

// recordSeries puts replicas and the HPA's view of CPU over time in the
// report, beside the load's charts (same time axis). Changes are recorded as
// steps: a value holds until the next sample.
func (x *asLab) recordSeries(s *S) {
	now := time.Now()
	var desired, ready []reports.Point
	for _, r := range x.obs.Replicas(x.name) {
		desired = step(desired, r.At, float64(r.Desired))
		ready = step(ready, r.At, float64(r.Ready))
	}
	var cpu []reports.Point
	for _, h := range x.obs.HPA(x.name) {
		if h.CPUPercent != nil {
			cpu = step(cpu, h.At, float64(*h.CPUPercent))
		}
	}
	for _, sr := range []struct {
		name, unit string
		pts        []reports.Point
	}{
		{"replicas wanted", "replicas", desired}, // the Deployment's spec.replicas, set by the HPA
		{"replicas ready", "replicas", ready},    // Ready pods: the ones the Service sends load to
		{"HPA CPU %", "%", cpu},                  // of the request, as the HPA reads it; target asCPUTarget
	} {
		if len(sr.pts) > 0 {
			s.Series(sr.name, sr.unit, holdUntil(sr.pts, now))
		}
	}
}

// step appends v at t, first repeating the previous value at t so a line
// chart draws a step, not a ramp.
func step(pts []reports.Point, t time.Time, v float64) []reports.Point {
	if n := len(pts); n > 0 {
		if pts[n-1].Value == v {
			return pts
		}
		pts = append(pts, reports.Point{Time: t, Value: pts[n-1].Value})
	}
	return append(pts, reports.Point{Time: t, Value: v})
}

// holdUntil extends the last value to until.
func holdUntil(pts []reports.Point, until time.Time) []reports.Point {
	if n := len(pts); n > 0 && pts[n-1].Time.Before(until) {
		pts = append(pts, reports.Point{Time: until, Value: pts[n-1].Value})
	}
	return pts
}

// distinctHeader counts the distinct values of a recorded response header:
// with X-Upstream-Name, how many replicas answered.
func distinctHeader(rs load.Results, name string) int {
	seen := map[string]bool{}
	for _, r := range rs {
		if v := r.Headers[name]; v != "" {
			seen[v] = true
		}
	}
	return len(seen)
}

// servedBy lists how many requests each replica answered.
func servedBy(rs load.Results) string {
	n := map[string]int{}
	for _, r := range rs {
		if v := r.Headers["X-Upstream-Name"]; v != "" {
			n[v]++
		}
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

// kubectl is a kubectl command line against the lab's cluster and namespace.
func (x *asLab) kubectl(args string) string {
	return fmt.Sprintf("kubectl --kubeconfig %s -n %s %s", x.c.Kubeconfig, x.w.Namespace, args)
}

// commonCommands adds the diagnosis commands every autoscaling lesson shows.
func (x *asLab) commonCommands(s *S) {
	s.Command("The HPA's targets, conditions and events (SuccessfulRescale, FailedGetResourceMetric)", x.kubectl("describe hpa "+x.name))
	s.Command("Watch the HPA's utilization and replica count change", x.kubectl("get hpa "+x.name+" --watch"))
	s.Command("Pods, their phase and node", x.kubectl("get pods -o wide"))
	s.Command("CPU usage as metrics-server reports it (what the HPA reads)", x.kubectl("top pods"))
	s.Command("One request through the Service stand-in, with its timing (X-Upstream-Name names the pod)",
		"curl -s -D - -o /dev/null -w 'total %{time_total}s\\n' "+x.svc+"/")
}

// logKubectl runs a kubectl command against the lab and attaches its output
// to the report, when kubectl is installed (the lab does not need it).
func (x *asLab) logKubectl(s *S, args ...string) {
	bin, err := exec.LookPath("kubectl")
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(s.Ctx, 10*time.Second)
	defer cancel()
	full := append([]string{"--kubeconfig", x.c.Kubeconfig, "-n", x.w.Namespace}, args...)
	out, err := exec.CommandContext(ctx, bin, full...).CombinedOutput()
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if err != nil {
		lines = append(lines, "(kubectl: "+err.Error()+")")
	}
	s.Log("kubectl "+strings.Join(args, " "), lines)
}

// beText is an exact-text matcher that reports both texts (for values read
// from the API: a request, a condition reason, a metric shown as <unknown>).
func beText(want string) types.GomegaMatcher { return textMatcher{want} }

type textMatcher struct{ want string }

func (m textMatcher) Match(actual any) (bool, error) {
	got, ok := actual.(string)
	if !ok {
		return false, fmt.Errorf("expected a string, got %T", actual)
	}
	return got == m.want, nil
}
func (m textMatcher) Expected() string           { return fmt.Sprintf("%q", m.want) }
func (m textMatcher) Measured(actual any) string { return fmt.Sprintf("%q", actual) }
func (m textMatcher) FailureMessage(actual any) string {
	return fmt.Sprintf("expected %q, got %q", m.want, actual)
}
func (m textMatcher) NegatedFailureMessage(actual any) string {
	return fmt.Sprintf("expected anything but %q", m.want)
}
