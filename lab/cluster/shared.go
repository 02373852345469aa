package cluster

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// One cluster per catalog run: starting a control plane and waiting for
// metrics-server's first samples costs tens of seconds, so a run starts one
// cluster and every scenario gets a tenant of it (Cluster.Tenant): its own
// namespace, its own simulated nodes, the shared control plane, scheduler,
// HPA controller and an already warm metrics-server. A tenant's Delete
// removes exactly what the scenario made and puts back what it changed, so
// a failed scenario cannot poison the next.

// LabelTenant is on the simulated nodes a tenant of a kwok cluster adds and
// in its pods' nodeSelector: tenants running at the same time never share a
// node, and each one's scheduler messages count only its own as fitting.
const LabelTenant = "chaoslab.io/tenant"

// TenantCleanupTimeout bounds how long a tenant's Delete waits for its
// namespace to be gone (Delete bounds the whole cleanup by a minute: the
// rest is for the nodes and a kubelet restart).
const TenantCleanupTimeout = 40 * time.Second

// ErrSharedUnusable is returned by Tenant once an earlier tenant's cleanup
// failed: the cluster may still hold its pods or a reshaped node, so the
// caller should start a cluster of its own.
var ErrSharedUnusable = errors.New("shared cluster unusable")

// tenant is the backend of a Cluster returned by Tenant.
type tenant struct {
	base *Cluster
	ns   string
	// isolate: tenants may run at the same time (kwok): nodes get a
	// per-tenant name and label, pods a nodeSelector.
	isolate bool

	mu       sync.Mutex
	nodes    []string // simulated nodes this tenant created
	reshaped bool     // the node provider's real node was reshaped
}

// Tenant returns one scenario's share of c: the same control plane and
// clients, Namespace ns (created here, labelled with c's name), and a
// Delete that deletes the namespace and waits until it is gone (bounded by
// TenantCleanupTimeout), deletes the simulated nodes the tenant added, and
// restores the real node's allocatable if the tenant reshaped it (node
// provider). Deleting a tenant never deletes c.
//
// On a kwok cluster tenants may run at the same time: AddNode names a
// tenant's nodes NodeName(name) and labels them, and workloads deployed
// through it select them (NodeSelector).
func (c *Cluster) Tenant(ctx context.Context, ns string) (*Cluster, error) {
	if err := ValidName(ns); err != nil {
		return nil, fmt.Errorf("tenant namespace: %w", err)
	}
	if _, ok := c.impl.(*tenant); ok {
		return nil, fmt.Errorf("cluster %s is already a tenant (namespace %s): take tenants of the shared cluster", c.Name, c.Namespace)
	}
	c.mu.Lock()
	poisoned := c.poisoned
	c.mu.Unlock()
	if poisoned != nil {
		return nil, fmt.Errorf("%w: %v", ErrSharedUnusable, poisoned)
	}
	t0 := time.Now()
	if err := createNamespace(ctx, c.Client, ns, c.Name); err != nil {
		return nil, fmt.Errorf("tenant namespace %s: %w", ns, err)
	}
	t := &tenant{base: c, ns: ns, isolate: c.Provider == "kwok"}
	return &Cluster{
		Name: c.Name, Provider: c.Provider, Kubeconfig: c.Kubeconfig, Dir: c.Dir, Namespace: ns,
		RESTConfig: c.RESTConfig, Client: c.Client, Dynamic: c.Dynamic,
		Started: time.Since(t0), Shared: true, impl: t,
	}, nil
}

// NodeName is the cluster's name for the node a scenario calls name: on a
// tenant of a kwok cluster its simulated nodes are prefixed with the
// tenant's namespace; elsewhere name itself.
func (c *Cluster) NodeName(name string) string {
	if t, ok := c.impl.(*tenant); ok && t.isolate {
		return t.ns + "-" + name
	}
	return name
}

// NodeSelector is what the pods of a workload on c must select: a tenant's
// own nodes on a shared kwok cluster, else nothing.
func (c *Cluster) NodeSelector() map[string]string {
	if t, ok := c.impl.(*tenant); ok && t.isolate {
		return map[string]string{LabelTenant: t.ns}
	}
	return nil
}

// backend is c's provider backend, also for a tenant (for the optional
// interfaces pods.go asks for).
func (c *Cluster) backend() backend {
	if t, ok := c.impl.(*tenant); ok {
		return t.base.backend()
	}
	return c.impl
}

func (t *tenant) addNode(ctx context.Context, _ *Cluster, n NodeSpec) error {
	if t.base.Provider == "node" && n.Name == NodeName {
		t.mu.Lock()
		t.reshaped = true // before: a restart that fails halfway must be undone too
		t.mu.Unlock()
		return t.base.impl.addNode(ctx, t.base, n)
	}
	if t.isolate {
		n.Name = t.ns + "-" + n.Name
		n.Labels = map[string]string{LabelTenant: t.ns}
	}
	t.mu.Lock()
	t.nodes = append(t.nodes, n.Name)
	t.mu.Unlock()
	return t.base.impl.addNode(ctx, t.base, n)
}

// delete removes the tenant's namespace, nodes and node shape. A failure
// marks the shared cluster unusable for later tenants.
func (t *tenant) delete(ctx context.Context, _ *Cluster) error {
	var errs []error
	if err := deleteNamespace(ctx, t.base, t.ns, TenantCleanupTimeout); err != nil {
		errs = append(errs, err)
	}
	t.mu.Lock()
	nodes, reshaped := t.nodes, t.reshaped
	t.mu.Unlock()
	for _, n := range nodes {
		err := t.base.Client.CoreV1().Nodes().Delete(ctx, n, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting node %s: %w", n, err))
		}
	}
	if reshaped {
		if r, ok := t.base.impl.(interface {
			restoreShape(context.Context, *Cluster) error
		}); ok {
			if err := r.restoreShape(ctx, t.base); err != nil {
				errs = append(errs, fmt.Errorf("restoring node %s's allocatable: %w", NodeName, err))
			}
		}
	}
	err := errors.Join(errs...)
	if err != nil {
		t.base.mu.Lock()
		if t.base.poisoned == nil {
			t.base.poisoned = fmt.Errorf("cleaning up namespace %s failed: %w", t.ns, err)
		}
		t.base.mu.Unlock()
	}
	return err
}

// deleteNamespace deletes ns and waits until it is gone, at most bound.
// Workloads go first and pods are deleted with a 1 s grace, so no
// controller re-creates them and no pod waits out a 30 s default; a real
// node's kubelet still confirms each (a forced delete would leave it to
// clean up behind the lab's back).
func deleteNamespace(ctx context.Context, c *Cluster, ns string, bound time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	cs := c.Client
	one := int64(1)
	_ = cs.AutoscalingV2().HorizontalPodAutoscalers(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
	_ = cs.AppsV1().Deployments(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
	_ = cs.AppsV1().ReplicaSets(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
	_ = cs.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &one}, metav1.ListOptions{})
	err := cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("deleting namespace %s: %w", ns, err)
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		_, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("namespace %s still there %s after its deletion: %s", ns, bound, namespaceLeftovers(c, ns))
		case <-tick.C:
		}
	}
}

// namespaceLeftovers says what keeps ns from going: its pods and conditions.
func namespaceLeftovers(c *Cluster, ns string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var parts []string
	if l, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); err == nil {
		var pods []string
		for _, p := range l.Items {
			pods = append(pods, fmt.Sprintf("%s (%s on %s)", p.Name, p.Status.Phase, orNone(p.Spec.NodeName)))
		}
		sort.Strings(pods)
		parts = append(parts, fmt.Sprintf("%d pod(s) left %v", len(pods), pods))
	}
	if n, err := c.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err == nil {
		for _, cond := range n.Status.Conditions {
			if cond.Status == corev1.ConditionTrue {
				parts = append(parts, fmt.Sprintf("%s: %s", cond.Type, cond.Message))
			}
		}
	}
	if len(parts) == 0 {
		return "nothing readable left (apiserver unreachable?)"
	}
	return strings.Join(parts, "; ")
}

func orNone(s string) string {
	if s == "" {
		return "no node"
	}
	return s
}

// SharedInfo names a cluster another process of the same run created, for
// Attach: Ginkgo's parallel processes share the kwok cluster process 1 made.
type SharedInfo struct {
	Name       string `json:"name"`
	Provider   string `json:"provider"`
	Kubeconfig string `json:"kubeconfig"`
	Dir        string `json:"dir"`
}

// Info is what Attach needs to use c from another process.
func (c *Cluster) Info() SharedInfo {
	return SharedInfo{Name: c.Name, Provider: c.Provider, Kubeconfig: c.Kubeconfig, Dir: c.Dir}
}

// Attach uses a kwok cluster another process created (and deletes): its
// Delete does nothing. Only kwok clusters can be attached: a node cluster's
// kubelet, containerd and relay belong to the process that made it.
func Attach(info SharedInfo) (*Cluster, error) {
	if info.Provider != "kwok" {
		return nil, fmt.Errorf("attach to cluster %s: only kwok clusters are shared between processes, not %q", info.Name, info.Provider)
	}
	if err := ValidName(info.Name); err != nil {
		return nil, fmt.Errorf("attach: %w", err)
	}
	c := &Cluster{Name: info.Name, Provider: info.Provider, Kubeconfig: info.Kubeconfig, Dir: info.Dir, impl: attached{}}
	var err error
	if c.RESTConfig, c.Client, c.Dynamic, err = connect(info.Kubeconfig, ""); err != nil {
		return nil, fmt.Errorf("attach to cluster %s: %w", info.Name, err)
	}
	return c, nil
}

// attached is the backend of a kwok cluster another process owns.
type attached struct{}

func (attached) addNode(ctx context.Context, c *Cluster, n NodeSpec) error {
	return (&kwokCluster{}).addNode(ctx, c, n)
}

func (attached) delete(context.Context, *Cluster) error { return nil }
