package autoscale

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/chaoslab/chaoslab/lab/cluster"
)

// WorkloadSpec is a service: a Deployment and a Service in front of it. On a
// kwok cluster kwok marks its pods Running (no container runs) and the
// Simulator gives each a replica server on loopback; on node, kind and
// existing clusters (cluster.Cluster.RealPods) its pods run the project's own binary
// as `chaoslab fake upstream` from a FROM-scratch image, with real CPU per
// request (CPUPerRequest), a CPU limit and a readiness probe.
type WorkloadSpec struct {
	Name      string
	Namespace string // default: the cluster's lab namespace
	Replicas  int32  // default 1
	// CPURequest is the container's CPU request, e.g. "100m". Empty means none,
	// which is the incident where a CPU-utilization HPA cannot compute anything
	// (FailedGetResourceMetric "missing request for cpu").
	CPURequest string
	// CPUCostPerRequest is the CPU one served request costs, in millicore-seconds
	// (25 = 25 ms of one core). See UsageMillicores for the model.
	CPUCostPerRequest float64
	Port              int32 // Service and container port, default 80

	// Real pods only.
	//
	// Image runs `chaoslab fake upstream`; Deploy fills it in (the lab-built
	// image, or $CHAOSLAB_WORKLOAD_IMAGE on an existing cluster).
	Image string
	// CPULimit is the container's CPU limit, set only with CPURequest (a
	// limit alone would default the request to it).
	CPULimit string
	// CPUPerRequest is the real CPU time each request burns in the pod.
	CPUPerRequest time.Duration
	// Latency is the pod's answer delay per request (not CPU).
	Latency time.Duration
	// Workers is how many requests the pod serves at once; the others wait
	// in line (`fake upstream --workers`). 0: no limit.
	Workers int
	// NodeSelector pins the pods to nodes; default: the cluster's
	// (cluster.Cluster.NodeSelector: a tenant's own nodes on a shared kwok
	// cluster).
	NodeSelector map[string]string
}

// Workload is a deployed WorkloadSpec. Its methods act on the cluster it
// was deployed to: the toolkit's one call shape is a constructor taking
// (ctx, cluster, spec) — Deploy, HPA, Observe — and methods on what it
// returns, which never take the cluster again.
type Workload struct {
	Spec      WorkloadSpec // with defaults filled in
	Namespace string
	Labels    map[string]string // the pods' labels (and the Service's selector)

	c *cluster.Cluster
}

// Selector selects the workload's pods.
func (w *Workload) Selector() labels.Selector { return labels.SelectorFromSet(w.Labels) }

// LabelWorkload is on every pod of a workload.
const LabelWorkload = "chaoslab.io/workload"

// simulatedImage is never pulled: kwok pods run no container.
const simulatedImage = "chaoslab.io/simulated-replica:latest"

func (s WorkloadSpec) withDefaults(c *cluster.Cluster) WorkloadSpec {
	if s.Namespace == "" {
		s.Namespace = c.Namespace
	}
	if s.Replicas == 0 {
		s.Replicas = 1
	}
	if s.Port == 0 {
		s.Port = 80
	}
	if s.NodeSelector == nil {
		s.NodeSelector = c.NodeSelector()
	}
	return s
}

// Objects builds the Deployment and Service for s (exported through Deploy;
// separate so the objects can be checked without a cluster).
func (s WorkloadSpec) Objects() (*appsv1.Deployment, *corev1.Service, error) {
	if err := cluster.ValidName(s.Name); err != nil {
		return nil, nil, fmt.Errorf("workload: %w", err)
	}
	if s.CPUCostPerRequest < 0 {
		return nil, nil, fmt.Errorf("workload %s: CPUCostPerRequest must not be negative, got %v", s.Name, s.CPUCostPerRequest)
	}
	lbl := map[string]string{"app": s.Name, LabelWorkload: s.Name}
	container := corev1.Container{
		Name:  "app",
		Image: simulatedImage,
		Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: s.Port, Protocol: corev1.ProtocolTCP}},
	}
	if s.Image != "" {
		container.Image = s.Image
		container.ImagePullPolicy = corev1.PullNever // imported into the node; no registry
		container.Args = upstreamArgs(s)
		container.Env = []corev1.EnvVar{{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}
		// Ready on the first answer (period 1 s), but tolerant of a pod
		// saturated at its CPU limit: under CFS throttling /healthz waits
		// behind the queued requests, and a probe that gave up after 3 x 2 s
		// took the only replica out of the load mid-spike (p95 799 ms after
		// the scale-out, "ready replicas 0" in pending-pods, one CI run in
		// five). The scenarios measure the HPA, not probe flapping.
		container.ReadinessProbe = &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: healthPath, Port: intstr.FromString("http")}},
			PeriodSeconds:    1,
			FailureThreshold: 15,
			TimeoutSeconds:   5,
		}
	}
	if s.CPURequest != "" {
		q, err := resource.ParseQuantity(s.CPURequest)
		if err != nil {
			return nil, nil, fmt.Errorf("workload %s: CPURequest %q: %w", s.Name, s.CPURequest, err)
		}
		container.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: q}
		if s.CPULimit != "" && s.Image != "" {
			l, err := resource.ParseQuantity(s.CPULimit)
			if err != nil {
				return nil, nil, fmt.Errorf("workload %s: CPULimit %q: %w", s.Name, s.CPULimit, err)
			}
			container.Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: l}
		}
	}
	replicas := s.Replicas
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: s.Namespace, Labels: lbl},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: lbl},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbl},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{container},
					// kwok nodes made outside AddNode usually carry this taint.
					Tolerations:                   []corev1.Toleration{{Key: cluster.AnnotationKwokNode, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
					TerminationGracePeriodSeconds: new(int64),
					NodeSelector:                  s.NodeSelector,
				},
			},
		},
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: s.Namespace, Labels: lbl},
		Spec: corev1.ServiceSpec{
			Selector: lbl,
			Ports:    []corev1.ServicePort{{Name: "http", Port: s.Port, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}},
		},
	}
	return dep, svc, nil
}

// healthPath is the readiness probe's path: a rule with no CPU, no delay and
// no workers, so probes cost the pod nothing measurable and never wait in the
// line of a saturated pod.
const healthPath = "/healthz"

// upstreamArgs is the pod's command line after the /chaoslab entrypoint.
func upstreamArgs(s WorkloadSpec) []string {
	a := []string{"fake", "upstream", "--name", "$(POD_NAME)", "--listen", fmt.Sprintf("0.0.0.0:%d", s.Port),
		"--rule", healthPath + ":status=200"}
	if s.Latency > 0 {
		a = append(a, "--latency", s.Latency.String())
	}
	if s.CPUPerRequest > 0 {
		a = append(a, "--cpu-per-request", s.CPUPerRequest.String())
	}
	if s.Workers > 0 {
		a = append(a, "--workers", fmt.Sprint(s.Workers))
	}
	return a
}

// Deploy creates the workload's Deployment and Service. It returns once they
// are created; Simulate (or WaitReady) follows the pods. On a cluster with
// real pods it first builds and loads the workload image (once per process
// and cluster).
func Deploy(ctx context.Context, c *cluster.Cluster, spec WorkloadSpec) (*Workload, error) {
	spec = spec.withDefaults(c)
	if c.RealPods() && spec.Image == "" {
		img, err := c.WorkloadImageRef(ctx)
		if err != nil {
			return nil, err
		}
		spec.Image = img
	}
	dep, svc, err := spec.Objects()
	if err != nil {
		return nil, err
	}
	if _, err := c.Client.AppsV1().Deployments(spec.Namespace).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("deploy %s: %w", spec.Name, err)
	}
	if _, err := c.Client.CoreV1().Services(spec.Namespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("service %s: %w", spec.Name, err)
	}
	return &Workload{Spec: spec, Namespace: spec.Namespace, Labels: dep.Spec.Template.Labels, c: c}, nil
}

// WaitReady waits until the Deployment reports at least n ready replicas.
// When ctx times out first, the error says why the pods are not ready: each pod's
// phase and waiting reason, and the namespace's latest warning events (a pod
// stuck in ContainerCreating and one whose image cannot be pulled look the
// same in a replica count).
func (w *Workload) WaitReady(ctx context.Context, n int32) error {
	c := w.c
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last int32
	for {
		dep, err := c.Client.AppsV1().Deployments(w.Namespace).Get(ctx, w.Spec.Name, metav1.GetOptions{})
		if err == nil {
			if last = dep.Status.ReadyReplicas; last >= n {
				return nil
			}
		} else if ctx.Err() == nil {
			return err
		}
		select {
		case <-ctx.Done():
			why := ""
			if errors.Is(ctx.Err(), context.DeadlineExceeded) { // not on Ctrl-C: teardown should not wait on it
				why = w.whyNotReady(ctx)
			}
			return fmt.Errorf("deployment %s/%s: %d of %d replicas ready: %w%s", w.Namespace, w.Spec.Name, last, n, ctx.Err(), why)
		case <-tick.C:
		}
	}
}

// whyNotReady describes the workload's pods that are not ready and the
// namespace's last warning events, in one line starting with "; ". It asks
// with a few seconds of its own, since the caller's context has ended.
func (w *Workload) whyNotReady(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	pods, err := w.c.Client.CoreV1().Pods(w.Namespace).List(ctx, metav1.ListOptions{LabelSelector: w.Selector().String()})
	if err != nil {
		return "; pods: " + err.Error()
	}
	var b strings.Builder
	for _, p := range describePods(pods.Items) {
		b.WriteString("; ")
		b.WriteString(p)
	}
	if len(pods.Items) == 0 {
		b.WriteString("; no pods yet")
	}
	evs, err := w.c.Client.CoreV1().Events(w.Namespace).List(ctx, metav1.ListOptions{FieldSelector: "type=Warning"})
	if err == nil {
		if e := lastWarnings(evs.Items, 3); e != "" {
			b.WriteString("; last warnings: ")
			b.WriteString(e)
		}
	}
	return b.String()
}

// describePods says, for each pod that is not Ready, its phase and what its
// containers wait for: "pod web-7d9-x2: Pending (ContainerCreating), node node-1".
func describePods(pods []corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		if cluster.PodReady(&p) {
			continue
		}
		var why []string
		for _, cs := range append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
			switch {
			case cs.State.Waiting != nil:
				why = append(why, joinNonEmpty(": ", cs.State.Waiting.Reason, cs.State.Waiting.Message))
			case cs.State.Terminated != nil:
				why = append(why, fmt.Sprintf("%s exited %d", joinNonEmpty(": ", cs.State.Terminated.Reason, cs.State.Terminated.Message), cs.State.Terminated.ExitCode))
			case cs.State.Running != nil && !cs.Ready:
				why = append(why, "running, readiness probe not yet passed")
			}
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodScheduled && cond.Status != corev1.ConditionTrue {
				why = append(why, joinNonEmpty(": ", "unscheduled "+cond.Reason, cond.Message))
			}
		}
		line := fmt.Sprintf("pod %s: %s", p.Name, p.Status.Phase)
		if len(why) > 0 {
			line += " (" + strings.Join(why, ", ") + ")"
		}
		if p.Spec.NodeName != "" {
			line += ", node " + p.Spec.NodeName
		}
		out = append(out, line)
	}
	return out
}

// lastWarnings is the newest n warning events, oldest first, one line each
// as the report shows events, joined by " | ".
func lastWarnings(evs []corev1.Event, n int) string {
	sort.SliceStable(evs, func(i, j int) bool { return eventTime(evs[i]).Before(eventTime(evs[j])) })
	if len(evs) > n {
		evs = evs[len(evs)-n:]
	}
	var out []string
	for i := range evs {
		out = append(out, eventOf(&evs[i], eventTime(evs[i])).String())
	}
	return strings.Join(out, " | ")
}

func eventTime(e corev1.Event) time.Time {
	for _, t := range []time.Time{e.LastTimestamp.Time, e.EventTime.Time, e.FirstTimestamp.Time, e.CreationTimestamp.Time} {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

func joinNonEmpty(sep string, parts ...string) string {
	var keep []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			keep = append(keep, p)
		}
	}
	return strings.Join(keep, sep)
}
