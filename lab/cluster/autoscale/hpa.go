package autoscale

import (
	"context"
	"fmt"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chaoslab/chaoslab/lab/cluster"
)

// HPASpec is a CPU-utilization HorizontalPodAutoscaler (autoscaling/v2) on a
// Deployment, with the behavior a lab needs to be fast.
type HPASpec struct {
	Name       string // default Target
	Namespace  string // default the cluster's lab namespace
	Target     string // Deployment name
	Min, Max   int32
	CPUPercent int32 // target average utilization of the CPU request
	// ScaleUpWindow and ScaleDownWindow are the stabilization windows, taken
	// literally (0 = none). Kubernetes defaults are 0 and 300 s.
	ScaleUpWindow, ScaleDownWindow time.Duration
	// ScaleUpPolicies and ScaleDownPolicies replace Kubernetes' defaults when
	// non-nil (up: 100% or 4 pods per 15 s, the larger; down: 100% per 15 s).
	ScaleUpPolicies, ScaleDownPolicies []autoscalingv2.HPAScalingPolicy
}

// Object builds the HPA.
func (s HPASpec) Object() (*autoscalingv2.HorizontalPodAutoscaler, error) {
	if s.Name == "" {
		s.Name = s.Target
	}
	if err := cluster.ValidName(s.Name); err != nil {
		return nil, fmt.Errorf("hpa: %w", err)
	}
	if s.Min < 1 || s.Max < s.Min {
		return nil, fmt.Errorf("hpa %s: need 1 <= Min <= Max, got Min=%d Max=%d", s.Name, s.Min, s.Max)
	}
	if s.CPUPercent <= 0 {
		return nil, fmt.Errorf("hpa %s: CPUPercent must be positive, got %d", s.Name, s.CPUPercent)
	}
	if s.ScaleUpWindow < 0 || s.ScaleDownWindow < 0 {
		return nil, fmt.Errorf("hpa %s: stabilization windows must not be negative", s.Name)
	}
	minR, cpu := s.Min, s.CPUPercent
	up := int32(s.ScaleUpWindow / time.Second)
	down := int32(s.ScaleDownWindow / time.Second)
	b := &autoscalingv2.HorizontalPodAutoscalerBehavior{
		ScaleUp:   &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: &up, Policies: s.ScaleUpPolicies},
		ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: &down, Policies: s.ScaleDownPolicies},
	}
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: s.Namespace},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: s.Target},
			MinReplicas:    &minR,
			MaxReplicas:    s.Max,
			Metrics: []autoscalingv2.MetricSpec{{
				Type: autoscalingv2.ResourceMetricSourceType,
				Resource: &autoscalingv2.ResourceMetricSource{
					Name:   corev1.ResourceCPU,
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &cpu},
				},
			}},
			Behavior: b,
		},
	}, nil
}

// HPA creates the autoscaler.
func HPA(ctx context.Context, c *cluster.Cluster, spec HPASpec) (*autoscalingv2.HorizontalPodAutoscaler, error) {
	if spec.Namespace == "" {
		spec.Namespace = c.Namespace
	}
	obj, err := spec.Object()
	if err != nil {
		return nil, err
	}
	out, err := c.Client.AutoscalingV2().HorizontalPodAutoscalers(spec.Namespace).Create(ctx, obj, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("hpa %s: %w", obj.Name, err)
	}
	return out, nil
}

// HPACondition returns the status condition of type t, or nil.
func HPACondition(h *autoscalingv2.HorizontalPodAutoscaler, t autoscalingv2.HorizontalPodAutoscalerConditionType) *autoscalingv2.HorizontalPodAutoscalerCondition {
	for i := range h.Status.Conditions {
		if h.Status.Conditions[i].Type == t {
			return &h.Status.Conditions[i]
		}
	}
	return nil
}

// HPACPUPercent is the HPA's current average CPU utilization (percent of the
// request), nil while the controller cannot compute it (`<unknown>` in
// kubectl get hpa).
func HPACPUPercent(h *autoscalingv2.HorizontalPodAutoscaler) *int32 {
	for _, m := range h.Status.CurrentMetrics {
		if m.Resource != nil && m.Resource.Name == corev1.ResourceCPU && m.Resource.Current.AverageUtilization != nil {
			v := *m.Resource.Current.AverageUtilization
			return &v
		}
	}
	return nil
}
