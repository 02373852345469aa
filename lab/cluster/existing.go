package cluster

import (
	"context"
	"fmt"
	"os"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Env variables the existing provider reads, first match wins.
const (
	EnvKubeconfig        = "CHAOSLAB_KUBECONFIG"
	EnvDefaultKubeconfig = "KUBECONFIG"
)

// Existing uses a cluster someone else runs. The lab only ever creates (and
// Delete only ever removes) one namespace labelled chaoslab.io/lab=<name>.
type Existing struct {
	// Kubeconfig is the path; default $CHAOSLAB_KUBECONFIG, then $KUBECONFIG.
	Kubeconfig string
	// Context is the kubeconfig context; default its current-context.
	Context string
}

// Name implements Provider.
func (e *Existing) Name() string { return "existing" }

func (e *Existing) kubeconfig() string {
	if e.Kubeconfig != "" {
		return e.Kubeconfig
	}
	if p := os.Getenv(EnvKubeconfig); p != "" {
		return p
	}
	return os.Getenv(EnvDefaultKubeconfig)
}

// Available implements Provider: a kubeconfig file must be named. It does not
// contact the cluster (Create does).
func (e *Existing) Available() (bool, string) {
	p := e.kubeconfig()
	if p == "" {
		return false, "set " + EnvKubeconfig + " (or KUBECONFIG) to the kubeconfig of the cluster to use"
	}
	if _, err := os.Stat(p); err != nil {
		return false, "kubeconfig " + p + " not readable: " + err.Error()
	}
	return true, ""
}

// Create implements Provider: it checks the cluster answers and creates the lab
// namespace (named after the lab).
func (e *Existing) Create(ctx context.Context, name string) (_ *Cluster, err error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	if ok, reason := e.Available(); !ok {
		return nil, fmt.Errorf("existing cluster: %s", reason)
	}
	start := time.Now()
	c := &Cluster{Name: name, Provider: e.Name(), Namespace: name, Kubeconfig: e.kubeconfig(), impl: existingCluster{}}
	if c.RESTConfig, c.Client, c.Dynamic, err = connect(c.Kubeconfig, e.Context); err != nil {
		return nil, err
	}
	if _, err := c.Client.Discovery().ServerVersion(); err != nil {
		return nil, fmt.Errorf("existing cluster %s: %w", c.Kubeconfig, err)
	}
	if err := createNamespace(ctx, c.Client, c.Namespace, name); err != nil {
		return nil, err
	}
	c.Started = time.Since(start)
	deleteOnDone(ctx, c)
	return c, nil
}

// existingCluster deletes only the lab's namespace.
type existingCluster struct{}

func (existingCluster) addNode(context.Context, *Cluster, NodeSpec) error {
	return fmt.Errorf("add node to an existing cluster: %w", ErrUnsupported)
}

func (existingCluster) delete(ctx context.Context, c *Cluster) error {
	return deleteLabNamespace(ctx, c)
}

// deleteLabNamespace deletes c.Namespace if, and only if, this lab created it.
func deleteLabNamespace(ctx context.Context, c *Cluster) error {
	ns, err := c.Client.CoreV1().Namespaces().Get(ctx, c.Namespace, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ns.Labels[LabelLab] != c.Name {
		return nil // not ours: leave it
	}
	err = c.Client.CoreV1().Namespaces().Delete(ctx, c.Namespace, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
