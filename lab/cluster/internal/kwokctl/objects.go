package kwokctl

import (
	"context"
	_ "embed"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"
)

var (
	//go:embed manifests/metrics-resource.yaml
	metricsResourceYAML []byte
	//go:embed manifests/usage-from-annotation.yaml
	usageFromAnnotationYAML []byte
)

// kwok's custom resources (kwokctl installs their CRDs for enabledCRDs).
var (
	MetricGVR               = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "metrics"}
	ClusterResourceUsageGVR = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "clusterresourceusages"}
)

// UsageObjects are the kwok objects that make simulated pods report CPU: a
// ClusterResourceUsage reading the pod annotation kwok.x-k8s.io/usage-cpu and a
// Metric serving it, kubelet-style, at /metrics/nodes/{node}/metrics/resource.
func UsageObjects() (map[schema.GroupVersionResource]*unstructured.Unstructured, error) {
	out := map[schema.GroupVersionResource]*unstructured.Unstructured{}
	for gvr, raw := range map[schema.GroupVersionResource][]byte{
		MetricGVR:               metricsResourceYAML,
		ClusterResourceUsageGVR: usageFromAnnotationYAML,
	} {
		var obj map[string]any
		if err := yaml.Unmarshal(raw, &obj); err != nil {
			return nil, fmt.Errorf("kwok %s: %w", gvr.Resource, err)
		}
		out[gvr] = &unstructured.Unstructured{Object: obj}
	}
	return out, nil
}

// ApplyUsageObjects creates UsageObjects in the cluster.
func ApplyUsageObjects(ctx context.Context, dyn dynamic.Interface) error {
	objs, err := UsageObjects()
	if err != nil {
		return err
	}
	for gvr, obj := range objs {
		if _, err := dyn.Resource(gvr).Create(ctx, obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create kwok %s %s: %w", gvr.Resource, obj.GetName(), err)
		}
	}
	return nil
}
