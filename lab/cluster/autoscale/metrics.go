package autoscale

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/chaoslab/chaoslab/lab/cluster"
)

// Metrics is PodMetrics for the workload's pods.
func (w *Workload) Metrics(ctx context.Context) (map[string]int64, error) {
	return PodMetrics(ctx, w.c, w.Namespace, w.Selector())
}

// PodMetrics reads the resource metrics API (metrics.k8s.io/v1beta1, what
// `kubectl top pod` and the HPA read) for the pods of namespace ns matching
// selector, and returns each pod's CPU usage in millicores summed over its
// containers. A pod metrics-server has no sample for yet is absent.
func PodMetrics(ctx context.Context, c *cluster.Cluster, ns string, selector labels.Selector) (map[string]int64, error) {
	req := c.Client.CoreV1().RESTClient().Get().AbsPath("/apis/metrics.k8s.io/v1beta1/namespaces", ns, "pods")
	if selector != nil && !selector.Empty() {
		req = req.Param("labelSelector", selector.String())
	}
	raw, err := req.DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("metrics API: %w", err)
	}
	var list struct {
		Items []struct {
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
			Containers []struct {
				Usage map[string]resource.Quantity `json:"usage"`
			} `json:"containers"`
		} `json:"items"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("metrics API: %w", err)
	}
	out := map[string]int64{}
	for _, it := range list.Items {
		var m int64
		for _, ct := range it.Containers {
			if q, ok := ct.Usage["cpu"]; ok {
				m += q.MilliValue()
			}
		}
		out[it.Metadata.Name] = m
	}
	return out, nil
}

// WaitMetrics waits until the metrics API reports at least n pods of w. Creating an HPA after this avoids a burst of
// FailedGetResourceMetric "no metrics returned" events while metrics-server
// collects its first two samples; with a 1 s HPA sync those events would use up
// the event recorder's per-object Warning budget (25, then one per 5 min) before
// the Warnings a scenario is about.
func (w *Workload) WaitMetrics(ctx context.Context, n int) error {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var got map[string]int64
	var err error
	for {
		got, err = w.Metrics(ctx)
		if err == nil && len(got) >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("metrics for %d pods of %s (have %v, last error %v): %w", n, w.Spec.Name, got, err, ctx.Err())
		case <-tick.C:
		}
	}
}
