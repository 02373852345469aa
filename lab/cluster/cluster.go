// Package cluster gives a lab a Kubernetes cluster: a real control plane with
// simulated nodes (kwok, built from Go modules, no images needed), a kind cluster
// (what users run on a laptop), or an existing cluster from a kubeconfig.
//
// Every provider returns the same *Cluster: a kubeconfig path, clients and a
// Delete that removes everything the lab created, also when the context given to
// Create ends (Ctrl-C in a CLI that uses signal.NotifyContext).
//
// Providers: kwok (kwok.go), node (node.go: a real kubelet and containerd in a
// network namespace of the run), kind (kind.go), existing (existing.go); how
// the host reaches a cluster's pods and which image they run is pods.go. What
// runs on a cluster for the autoscaling incidents (workload, HPA, observer,
// the kwok replica simulator) is package autoscale.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Provider makes clusters of one kind.
type Provider interface {
	// Name is "kwok", "kind" or "existing".
	Name() string
	// Available says whether Create can work on this machine; reason is one line
	// saying what to install or run when it cannot.
	Available() (ok bool, reason string)
	// Create makes (or, for kind/existing, attaches to) a cluster. The cluster is
	// deleted when ctx ends; callers also defer Delete.
	Create(ctx context.Context, name string) (*Cluster, error)
}

// ErrUnsupported is returned by operations a provider cannot do (adding a
// simulated node to a kind cluster, for instance).
var ErrUnsupported = errors.New("not supported by this cluster provider")

// LabelLab marks every object the lab creates in a cluster it does not own, so
// Delete removes exactly those.
const LabelLab = "chaoslab.io/lab"

// Cluster is a running cluster the lab can use.
type Cluster struct {
	Name       string // the lab's name for it
	Provider   string // "kwok", "kind", "existing"
	Kubeconfig string // path to an admin kubeconfig for kubectl
	// Dir holds the provider's files for this cluster (kwok: its components'
	// logs under clusters/<name>/logs, metrics-server.log, pki); Delete removes it.
	// Empty for an existing cluster.
	Dir string
	// Namespace was created for this lab (labelled LabelLab=Name); Delete removes it.
	Namespace  string
	RESTConfig *rest.Config
	Client     kubernetes.Interface
	Dynamic    dynamic.Interface
	// Started is how long Create took, for reports (for a tenant: how long
	// its namespace took).
	Started time.Duration
	// Shared is set on a tenant (Tenant): the control plane was already up.
	Shared bool

	impl       backend
	poisoned   error // set when a tenant's cleanup failed (Tenant refuses)
	mu         sync.Mutex
	stopCtx    func() bool
	deleteOnce sync.Once
	deleteErr  error
}

// backend is what each provider does differently once a cluster exists.
type backend interface {
	addNode(ctx context.Context, c *Cluster, n NodeSpec) error
	delete(ctx context.Context, c *Cluster) error
}

// Delete removes what the lab created: for kwok the whole control plane, its
// processes and its work dir; for kind the cluster if the lab created it; for an
// existing cluster only the lab's namespace. It is idempotent and safe to call
// concurrently; it runs to completion even if ctx is already done, bounded by
// one minute.
func (c *Cluster) Delete(ctx context.Context) error {
	c.deleteOnce.Do(func() {
		c.mu.Lock()
		stop := c.stopCtx
		c.mu.Unlock()
		if stop != nil {
			stop()
		}
		// A cancelled ctx is the usual reason to be here (Ctrl-C, test failure):
		// cleanup must still happen, so only ctx's values are kept.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		c.deleteErr = c.impl.delete(dctx, c)
	})
	return c.deleteErr
}

// NodeSpec is a simulated node's capacity.
type NodeSpec struct {
	Name   string
	CPU    string // e.g. "4"
	Memory string // e.g. "16Gi"
	Pods   int    // default 110
	// Labels are added to the node's own (a tenant marks its nodes).
	Labels map[string]string
}

// AddNode adds a simulated node with the given capacity (kwok only).
func (c *Cluster) AddNode(ctx context.Context, name, cpu, memory string) error {
	return c.impl.addNode(ctx, c, NodeSpec{Name: name, CPU: cpu, Memory: memory})
}

// AddNodeSpec adds a simulated node described by n (kwok only).
func (c *Cluster) AddNodeSpec(ctx context.Context, n NodeSpec) error {
	return c.impl.addNode(ctx, c, n)
}

// providers are the known provider names and their default constructors.
var providers = map[string]func() Provider{
	"kwok":     func() Provider { return &Kwok{} },
	"kind":     func() Provider { return &Kind{} },
	"existing": func() Provider { return &Existing{} },
	"node":     func() Provider { return &Node{} },
}

// Names lists the valid provider names, sorted.
func Names() []string {
	out := make([]string, 0, len(providers))
	for n := range providers {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Lookup returns the provider called name, with its defaults.
func Lookup(name string) (Provider, error) {
	if mk, ok := providers[name]; ok {
		return mk(), nil
	}
	return nil, fmt.Errorf("unknown cluster provider %q: valid providers are %s", name, strings.Join(Names(), ", "))
}

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// ValidName checks that name (a cluster or an object the lab creates) is a
// DNS label, as Kubernetes requires.
func ValidName(name string) error {
	if !dnsLabel.MatchString(name) {
		return fmt.Errorf("name %q: must be a DNS label (lower-case letters, digits, '-', at most 63)", name)
	}
	return nil
}

// connect builds the clients from a kubeconfig file.
func connect(kubeconfig, context string) (*rest.Config, kubernetes.Interface, dynamic.Interface, error) {
	rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: context}).ClientConfig()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	// The simulator patches every pod once a second; client-go's default 5 QPS
	// would throttle it on its own.
	cfg.QPS, cfg.Burst = 100, 200
	// With certificate *files* client-go starts a reload goroutine per
	// transport that lives for the process; with the bytes it starts none, and
	// the clients keep working while Delete removes the files.
	if err := rest.LoadTLSFiles(cfg); err != nil {
		return nil, nil, nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	cfg.CertFile, cfg.KeyFile, cfg.CAFile = "", "", ""
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	return cfg, cs, dyn, nil
}

// createNamespace creates the lab's namespace, labelled so Delete of an
// existing cluster can tell it from the cluster's own.
func createNamespace(ctx context.Context, cs kubernetes.Interface, ns, lab string) error {
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:   ns,
		Labels: map[string]string{LabelLab: lab, "app.kubernetes.io/managed-by": "chaoslab"},
	}}, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		got, gerr := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if gerr != nil {
			return gerr
		}
		if got.Labels[LabelLab] != lab {
			return fmt.Errorf("namespace %s exists and was not created by lab %s: refusing to use it", ns, lab)
		}
		return nil
	}
	return err
}

// deleteOnDone makes c deleted when ctx ends.
func deleteOnDone(ctx context.Context, c *Cluster) {
	stop := context.AfterFunc(ctx, func() { _ = c.Delete(context.Background()) })
	c.mu.Lock()
	c.stopCtx = stop
	c.mu.Unlock()
}
