package autoscale_test

import (
	"flag"
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"

	"github.com/chaoslab/chaoslab/fakes/upstream"
	"github.com/chaoslab/chaoslab/lab/cluster/autoscale"
)

func TestWorkloadObjectsCarryTheCPURequest(t *testing.T) {
	dep, svc, err := autoscale.WorkloadSpec{Name: "web", Namespace: "lab", Replicas: 2, CPURequest: "100m", Port: 8080}.Objects()
	if err != nil {
		t.Fatal(err)
	}
	if *dep.Spec.Replicas != 2 || dep.Namespace != "lab" {
		t.Errorf("deployment replicas %d ns %s", *dep.Spec.Replicas, dep.Namespace)
	}
	ct := dep.Spec.Template.Spec.Containers[0]
	if got := ct.Resources.Requests.Cpu().MilliValue(); got != 100 {
		t.Errorf("cpu request %dm, want 100m", got)
	}
	if svc.Spec.Ports[0].Port != 8080 || svc.Spec.Selector[autoscale.LabelWorkload] != "web" {
		t.Errorf("service %+v", svc.Spec)
	}
	if dep.Spec.Template.Labels[autoscale.LabelWorkload] != "web" || dep.Spec.Selector.MatchLabels[autoscale.LabelWorkload] != "web" {
		t.Errorf("labels %v / selector %v", dep.Spec.Template.Labels, dep.Spec.Selector)
	}
}

func TestWorkloadWithoutCPURequestHasNone(t *testing.T) {
	dep, _, err := autoscale.WorkloadSpec{Name: "web"}.Objects()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := dep.Spec.Template.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU]; ok {
		t.Error("a workload without CPURequest must have no CPU request (the incident needs it missing)")
	}
}

func TestWorkloadValidation(t *testing.T) {
	for _, tc := range []struct {
		spec autoscale.WorkloadSpec
		want string
	}{
		{autoscale.WorkloadSpec{Name: "Web"}, "DNS label"},
		{autoscale.WorkloadSpec{Name: "web", CPURequest: "lots"}, `CPURequest "lots"`},
		{autoscale.WorkloadSpec{Name: "web", CPUCostPerRequest: -1}, "must not be negative"},
	} {
		_, _, err := tc.spec.Objects()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want it to mention %q", tc.spec, err, tc.want)
		}
	}
}

func TestHPAObject(t *testing.T) {
	h, err := autoscale.HPASpec{Target: "web", Namespace: "lab", Min: 1, Max: 5, CPUPercent: 50,
		ScaleUpWindow: 0, ScaleDownWindow: 30 * time.Second,
		ScaleUpPolicies: []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: 2, PeriodSeconds: 5}},
	}.Object()
	if err != nil {
		t.Fatal(err)
	}
	if h.Name != "web" || h.Spec.ScaleTargetRef.Kind != "Deployment" || h.Spec.ScaleTargetRef.Name != "web" {
		t.Errorf("target %+v name %s", h.Spec.ScaleTargetRef, h.Name)
	}
	if *h.Spec.MinReplicas != 1 || h.Spec.MaxReplicas != 5 {
		t.Errorf("min/max %d/%d", *h.Spec.MinReplicas, h.Spec.MaxReplicas)
	}
	m := h.Spec.Metrics[0]
	if m.Resource.Name != corev1.ResourceCPU || *m.Resource.Target.AverageUtilization != 50 || m.Resource.Target.Type != autoscalingv2.UtilizationMetricType {
		t.Errorf("metric %+v", m.Resource)
	}
	b := h.Spec.Behavior
	if *b.ScaleUp.StabilizationWindowSeconds != 0 || *b.ScaleDown.StabilizationWindowSeconds != 30 {
		t.Errorf("windows up %d down %d", *b.ScaleUp.StabilizationWindowSeconds, *b.ScaleDown.StabilizationWindowSeconds)
	}
	if len(b.ScaleUp.Policies) != 1 || b.ScaleDown.Policies != nil {
		t.Errorf("policies up %v down %v (nil keeps Kubernetes' defaults)", b.ScaleUp.Policies, b.ScaleDown.Policies)
	}
	for _, bad := range []autoscale.HPASpec{
		{Target: "web", Min: 0, Max: 5, CPUPercent: 50},
		{Target: "web", Min: 3, Max: 2, CPUPercent: 50},
		{Target: "web", Min: 1, Max: 2},
		{Target: "web", Min: 1, Max: 2, CPUPercent: 50, ScaleDownWindow: -time.Second},
	} {
		if _, err := bad.Object(); err == nil {
			t.Errorf("%+v: want an error", bad)
		}
	}
}

func TestRealPodObjectsRunTheUpstreamWithCPUAndProbe(t *testing.T) {
	dep, _, err := autoscale.WorkloadSpec{Name: "web", Image: "chaoslab.local/chaoslab:abc", CPURequest: "100m", CPULimit: "200m",
		CPUPerRequest: 5 * time.Millisecond, Latency: 50 * time.Millisecond, Workers: 2, Port: 8080}.Objects()
	if err != nil {
		t.Fatal(err)
	}
	ct := dep.Spec.Template.Spec.Containers[0]
	if ct.Image != "chaoslab.local/chaoslab:abc" || ct.ImagePullPolicy != corev1.PullNever {
		t.Errorf("image %s pull %s: want the imported image, never pulled", ct.Image, ct.ImagePullPolicy)
	}
	args := strings.Join(ct.Args, " ")
	for _, want := range []string{"fake upstream", "--name $(POD_NAME)", "--listen 0.0.0.0:8080", "--cpu-per-request 5ms", "--latency 50ms", "--workers 2", "--rule /healthz:status=200"} {
		if !strings.Contains(args, want) {
			t.Errorf("args %q lack %q", args, want)
		}
	}
	// The pod's binary reads them: the probe's rule has no workers of its own.
	var cfg upstream.Config
	fs := flag.NewFlagSet("upstream", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := fs.Parse(ct.Args[2:]); err != nil {
		t.Fatalf("fake upstream %q: %v", args, err)
	}
	if cfg.Default.Workers != 2 || cfg.Default.Latency != 50*time.Millisecond || cfg.Rules["/healthz"].Workers != 0 {
		t.Errorf("parsed %+v: want 2 workers, 50ms, a probe rule without workers", cfg)
	}
	if ct.Resources.Limits.Cpu().MilliValue() != 200 || ct.Resources.Requests.Cpu().MilliValue() != 100 {
		t.Errorf("resources %v", ct.Resources)
	}
	if ct.ReadinessProbe == nil || ct.ReadinessProbe.HTTPGet == nil || ct.ReadinessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("readiness probe %+v", ct.ReadinessProbe)
	}
	// A limit without a request would default the request to the limit and
	// hide the missing-request incident.
	dep, _, _ = autoscale.WorkloadSpec{Name: "web", Image: "x", CPULimit: "200m"}.Objects()
	if r := dep.Spec.Template.Spec.Containers[0].Resources; len(r.Limits) != 0 || len(r.Requests) != 0 {
		t.Errorf("no request given: want no limit either, got %v", r)
	}
}
