package cluster_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chaoslab/chaoslab/internal/turns"
	"github.com/chaoslab/chaoslab/lab/cluster"
	"github.com/chaoslab/chaoslab/lab/cluster/autoscale"
)

// Two tenants of one kwok cluster at once (what parallel scenarios do): each
// its own namespace and its own "node-1", pods only on its own nodes; a
// tenant's Delete leaves nothing of it (namespace, nodes) and the cluster,
// the other tenant and an attached handle keep working.
func TestKwokTenantsShareOneCluster(t *testing.T) {
	requireTools(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	shared, err := (&cluster.Kwok{}).Create(ctx, "shared-lab")
	if err != nil {
		t.Fatal(err)
	}
	defer shared.Delete(context.Background())

	a, err := shared.Tenant(ctx, "tenant-a")
	if err != nil {
		t.Fatal(err)
	}
	other, err := cluster.Attach(shared.Info()) // as a second Ginkgo process does
	if err != nil {
		t.Fatal(err)
	}
	b, err := other.Tenant(ctx, "tenant-b")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Tenant(ctx, "tenant-c"); err == nil {
		t.Error("a tenant of a tenant: want an error")
	}
	if !a.Shared || a.Namespace != "tenant-a" || b.Namespace != "tenant-b" {
		t.Fatalf("tenants: shared %v, namespaces %q %q", a.Shared, a.Namespace, b.Namespace)
	}
	for _, tn := range []*cluster.Cluster{a, b} {
		if err := tn.AddNodeSpec(ctx, cluster.NodeSpec{Name: "node-1", CPU: "4", Memory: "8Gi"}); err != nil {
			t.Fatalf("%s: %v", tn.Namespace, err)
		}
		w, err := autoscale.Deploy(ctx, tn, autoscale.WorkloadSpec{Name: "web", Replicas: 2, CPURequest: "100m"})
		if err != nil {
			t.Fatal(err)
		}
		wctx, wcancel := context.WithTimeout(ctx, time.Minute)
		err = w.WaitReady(wctx, 2)
		wcancel()
		if err != nil {
			t.Fatal(err)
		}
		pods, err := tn.Client.CoreV1().Pods(tn.Namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pods.Items {
			if p.Spec.NodeName != tn.NodeName("node-1") {
				t.Errorf("%s: pod %s on node %q, want only its own %q", tn.Namespace, p.Name, p.Spec.NodeName, tn.NodeName("node-1"))
			}
		}
	}
	if a.NodeName("node-1") == b.NodeName("node-1") {
		t.Fatalf("both tenants' node-1 is %s", a.NodeName("node-1"))
	}

	if err := a.Delete(ctx); err != nil {
		t.Fatalf("tenant a's Delete: %v", err)
	}
	if _, err := shared.Client.CoreV1().Namespaces().Get(ctx, "tenant-a", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace tenant-a after its tenant's Delete: %v, want NotFound", err)
	}
	if _, err := shared.Client.CoreV1().Nodes().Get(ctx, a.NodeName("node-1"), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("node %s after its tenant's Delete: %v, want NotFound", a.NodeName("node-1"), err)
	}
	// b is untouched, and the cluster takes new tenants.
	if n, err := b.Client.CoreV1().Pods(b.Namespace).List(ctx, metav1.ListOptions{}); err != nil || len(n.Items) != 2 {
		t.Errorf("tenant b's pods after a's Delete: %v %v", n, err)
	}
	c, err := shared.Tenant(ctx, "tenant-a2")
	if err != nil {
		t.Fatalf("a new tenant after a clean Delete: %v", err)
	}
	if err := c.Delete(ctx); err != nil {
		t.Error(err)
	}
	if err := b.Delete(ctx); err != nil {
		t.Error(err)
	}
	// Deleting tenants and the attached handle leaves the cluster up.
	if err := other.Delete(ctx); err != nil {
		t.Error(err)
	}
	if _, err := shared.Client.CoreV1().Namespaces().Get(ctx, shared.Namespace, metav1.GetOptions{}); err != nil {
		t.Errorf("the shared cluster after its tenants are gone: %v", err)
	}
}

// A tenant whose namespace cannot go (a finalizer nobody removes) fails its
// Delete with what is left, within the bound, and the cluster refuses new
// tenants (ErrSharedUnusable): the next scenario starts its own.
func TestKwokTenantStuckNamespacePoisonsTheSharedCluster(t *testing.T) {
	requireTools(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	shared, err := (&cluster.Kwok{}).Create(ctx, "stuck-lab")
	if err != nil {
		t.Fatal(err)
	}
	defer shared.Delete(context.Background())
	a, err := shared.Tenant(ctx, "stuck")
	if err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "held", Finalizers: []string{"chaoslab.io/test-hold"}}}
	if _, err := a.Client.CoreV1().ConfigMaps(a.Namespace).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	err = a.Delete(ctx)
	if err == nil || !strings.Contains(err.Error(), "namespace stuck still there") {
		t.Fatalf("Delete of a tenant whose namespace cannot go: %v", err)
	}
	if d := time.Since(t0); d > cluster.TenantCleanupTimeout+20*time.Second {
		t.Errorf("Delete took %s, bound %s", d, cluster.TenantCleanupTimeout)
	}
	if _, err := shared.Tenant(ctx, "next"); !errors.Is(err, cluster.ErrSharedUnusable) {
		t.Errorf("a tenant after a failed cleanup: %v, want ErrSharedUnusable", err)
	}
	// Let the namespace go so the cluster's own Delete is clean.
	cm, err = shared.Client.CoreV1().ConfigMaps("stuck").Get(ctx, "held", metav1.GetOptions{})
	if err == nil {
		cm.Finalizers = nil
		_, _ = shared.Client.CoreV1().ConfigMaps("stuck").Update(ctx, cm, metav1.UpdateOptions{})
	}
}

// On the node provider a tenant that shrank the real node (pending-pods)
// gives it back: after the tenant's Delete the node's allocatable CPU is
// its capacity again and it is Ready, and the next tenant sees that.
func TestNodeTenantRestoresTheRealNode(t *testing.T) {
	if testing.Short() {
		t.Skip("node integration test: skipped in -short mode")
	}
	p := &cluster.Node{}
	if ok, reason := p.Available(); !ok {
		t.Skip(reason)
	}
	turns.Take(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	shared, err := p.Create(ctx, "tenantnode")
	if err != nil {
		t.Fatal(err)
	}
	defer shared.Delete(context.Background())
	allocatable := func() (alloc, capacity int64) {
		n, err := shared.Client.CoreV1().Nodes().Get(ctx, cluster.NodeName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return n.Status.Allocatable.Cpu().MilliValue(), n.Status.Capacity.Cpu().MilliValue()
	}
	a, err := shared.Tenant(ctx, "shrinks")
	if err != nil {
		t.Fatal(err)
	}
	if a.NodeName(cluster.NodeName) != cluster.NodeName {
		t.Errorf("the real node is %s on a node tenant, want %s", a.NodeName(cluster.NodeName), cluster.NodeName)
	}
	if err := a.AddNodeSpec(ctx, cluster.NodeSpec{Name: cluster.NodeName, CPU: "150m", Memory: "32Gi"}); err != nil {
		t.Fatal(err)
	}
	if alloc, _ := allocatable(); alloc != 150 {
		t.Fatalf("allocatable cpu after the tenant shrank the node: %dm, want 150m", alloc)
	}
	if err := a.Delete(ctx); err != nil {
		t.Fatalf("tenant Delete: %v", err)
	}
	if alloc, capacity := allocatable(); alloc != capacity {
		t.Errorf("allocatable cpu after the tenant's Delete: %dm, want the capacity %dm", alloc, capacity)
	}
	b, err := shared.Tenant(ctx, "next")
	if err != nil {
		t.Fatalf("the next tenant: %v", err)
	}
	if err := b.Delete(ctx); err != nil {
		t.Error(err)
	}
}
