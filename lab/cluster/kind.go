package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"

	"github.com/chaoslab/chaoslab/lab/cluster/internal/kindconfig"
	"github.com/chaoslab/chaoslab/lab/cluster/internal/metricsserver"
)

// KindNodeImage is the node image kind v0.30.0 defaults to (Kubernetes 1.34,
// which still runs on cgroup v1 hosts; 1.35+ images need cgroup v2).
const KindNodeImage = "kindest/node:v1.34.0@sha256:7416a61b42b1662ca6ca89f02028ac133a309a2a30ba309614e8ec94d976dc5a"

// Kind creates (or reuses) a kind cluster through sigs.k8s.io/kind/pkg/cluster,
// with the same HPA time compression as kwok and metrics-server installed with
// --kubelet-insecure-tls. It needs Docker (or podman) and the node image.
type Kind struct {
	NodeImage string // default KindNodeImage
	Workers   int    // worker nodes besides the control plane
	// Reuse attaches to an existing kind cluster of the same name instead of
	// failing; Delete then leaves the cluster and removes only the lab namespace.
	Reuse bool
	// KubeconfigDir is where the kubeconfig is written; default a temp dir
	// removed by Delete.
	KubeconfigDir string
	// MetricsServerImage overrides metricsserver.Image.
	MetricsServerImage string
	Log                io.Writer
}

// Name implements Provider.
func (k *Kind) Name() string { return "kind" }

func (k *Kind) nodeImage() string {
	if k.NodeImage != "" {
		return k.NodeImage
	}
	return KindNodeImage
}

// Available implements Provider: a container runtime must answer and the node
// image must be present locally (Available never pulls).
func (k *Kind) Available() (bool, string) {
	if _, err := kindcluster.DetectNodeProvider(); err != nil {
		return false, "kind needs a running Docker (or podman) engine: install docker.io and start dockerd"
	}
	img := k.nodeImage()
	if err := exec.Command("docker", "image", "inspect", img).Run(); err != nil {
		return false, "kind node image " + strings.Split(img, "@")[0] + " is not present: run `docker pull " + img + "`"
	}
	return true, ""
}

// Config renders the kind cluster configuration Create uses.
func (k *Kind) Config(name string) kindconfig.Config {
	return kindconfig.Config{Name: name, Workers: k.Workers, ControllerManagerArgs: HPAControllerManagerArgs()}
}

type kindBackend struct {
	provider   *kindcluster.Provider
	created    bool   // this lab created the cluster, so Delete deletes it
	kubeconfig string // temp dir to remove, when the lab chose it
	name       string // the kind cluster's name
}

// Create implements Provider.
func (k *Kind) Create(ctx context.Context, name string) (_ *Cluster, err error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	if ok, reason := k.Available(); !ok {
		return nil, errors.New(reason)
	}
	opt, err := kindcluster.DetectNodeProvider()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	kb := &kindBackend{provider: kindcluster.NewProvider(opt)}
	dir := k.KubeconfigDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "chaoslab-kind-"); err != nil {
			return nil, err
		}
		kb.kubeconfig = dir
	}
	kb.name = name
	c := &Cluster{Name: name, Provider: k.Name(), Namespace: name, Kubeconfig: filepath.Join(dir, "kubeconfig"), impl: kb}
	defer func() {
		if err != nil {
			_ = c.Delete(context.WithoutCancel(ctx))
		}
	}()
	existing, err := kb.provider.List()
	if err != nil {
		return nil, err
	}
	if slices.Contains(existing, name) {
		if !k.Reuse {
			return nil, fmt.Errorf("kind cluster %s already exists (set Reuse to attach to it, or `kind delete cluster --name %s`)", name, name)
		}
		if err := kb.provider.ExportKubeConfig(name, c.Kubeconfig, false); err != nil {
			return nil, err
		}
	} else {
		raw, err := k.Config(name).YAML()
		if err != nil {
			return nil, err
		}
		kb.created = true
		if err := kb.provider.Create(name,
			kindcluster.CreateWithRawConfig(raw),
			kindcluster.CreateWithNodeImage(k.nodeImage()),
			kindcluster.CreateWithKubeconfigPath(c.Kubeconfig),
			kindcluster.CreateWithWaitForReady(2*time.Minute),
			kindcluster.CreateWithDisplayUsage(false),
			kindcluster.CreateWithDisplaySalutation(false),
		); err != nil {
			return nil, fmt.Errorf("kind create cluster %s: %w", name, err)
		}
	}
	if c.RESTConfig, c.Client, c.Dynamic, err = connect(c.Kubeconfig, ""); err != nil {
		return nil, err
	}
	if err := applyObjects(ctx, c, metricsserver.Manifest(k.MetricsServerImage)); err != nil {
		return nil, fmt.Errorf("install metrics-server: %w", err)
	}
	if err := createNamespace(ctx, c.Client, c.Namespace, name); err != nil {
		return nil, err
	}
	c.Started = time.Since(start)
	deleteOnDone(ctx, c)
	return c, nil
}

// LoadImage copies a local Docker image into every node of a kind cluster, as
// `kind load docker-image` does: `docker save` piped into
// nodeutils.LoadImageArchive (containerd's `ctr images import`) per node.
func LoadImage(ctx context.Context, c *Cluster, image string) error {
	kb, ok := c.backend().(*kindBackend)
	if !ok {
		return fmt.Errorf("load image into a %s cluster: %w", c.Provider, ErrUnsupported)
	}
	nodes, err := kb.provider.ListInternalNodes(c.Name)
	if err != nil {
		return err
	}
	for _, n := range nodes {
		save := exec.CommandContext(ctx, "docker", "save", image)
		out, err := save.StdoutPipe()
		if err != nil {
			return err
		}
		if err := save.Start(); err != nil {
			return fmt.Errorf("docker save %s: %w", image, err)
		}
		loadErr := nodeutils.LoadImageArchive(n, out)
		waitErr := save.Wait()
		if err := errors.Join(loadErr, waitErr); err != nil {
			return fmt.Errorf("load %s into node %s: %w", image, n.String(), err)
		}
	}
	return nil
}

// loadImage is kind's LoadImage path for a docker-archive tar the lab wrote
// (`kind load image-archive`): nodeutils.LoadImageArchive into every node.
func (kb *kindBackend) loadImage(_ context.Context, tag, tarPath string) error {
	nodes, err := kb.provider.ListInternalNodes(kb.name)
	if err != nil {
		return err
	}
	return loadArchive(nodeNames(nodes), tarPath, func(i int, f io.Reader) error { return nodeutils.LoadImageArchive(nodes[i], f) })
}

func nodeNames[T fmt.Stringer](ns []T) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.String()
	}
	return out
}

// loadArchive opens tarPath once per node and hands it to load.
func loadArchive(nodes []string, tarPath string, load func(i int, f io.Reader) error) error {
	if len(nodes) == 0 {
		return errors.New("the cluster has no nodes to load the image into")
	}
	for i, n := range nodes {
		f, err := os.Open(tarPath)
		if err != nil {
			return err
		}
		err = load(i, f)
		_ = f.Close()
		if err != nil {
			return fmt.Errorf("node %s: %w", n, err)
		}
	}
	return nil
}

func (kb *kindBackend) addNode(context.Context, *Cluster, NodeSpec) error {
	return fmt.Errorf("add node to a kind cluster: %w", ErrUnsupported)
}

func (kb *kindBackend) delete(ctx context.Context, c *Cluster) error {
	var errs []error
	if kb.created {
		errs = append(errs, kb.provider.Delete(c.Name, c.Kubeconfig))
	} else if c.Client != nil {
		errs = append(errs, deleteLabNamespace(ctx, c))
	}
	if kb.kubeconfig != "" {
		errs = append(errs, os.RemoveAll(kb.kubeconfig))
	}
	return errors.Join(errs...)
}

// gvrs maps the kinds the lab installs to their resources (no discovery round
// trip, and an unknown kind is a programming error caught by the unit test).
var gvrs = map[string]schema.GroupVersionResource{
	"v1/ServiceAccount":  {Version: "v1", Resource: "serviceaccounts"},
	"v1/Service":         {Version: "v1", Resource: "services"},
	"apps/v1/Deployment": {Group: "apps", Version: "v1", Resource: "deployments"},
	"rbac.authorization.k8s.io/v1/ClusterRole":        {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"},
	"rbac.authorization.k8s.io/v1/ClusterRoleBinding": {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"},
	"rbac.authorization.k8s.io/v1/RoleBinding":        {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"},
	"apiregistration.k8s.io/v1/APIService":            metricsserver.APIServiceGVR,
}

func gvrOf(obj *unstructured.Unstructured) (schema.GroupVersionResource, error) {
	gvr, ok := gvrs[obj.GetAPIVersion()+"/"+obj.GetKind()]
	if !ok {
		return gvr, fmt.Errorf("no resource known for %s %s", obj.GetAPIVersion(), obj.GetKind())
	}
	return gvr, nil
}

// applyObjects server-side-applies objs, so re-running on a reused cluster
// converges instead of failing on AlreadyExists.
func applyObjects(ctx context.Context, c *Cluster, objs []runtime.Object) error {
	for _, o := range objs {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		if err != nil {
			return err
		}
		u := &unstructured.Unstructured{Object: m}
		gvr, err := gvrOf(u)
		if err != nil {
			return err
		}
		var ri = c.Dynamic.Resource(gvr)
		var err2 error
		if ns := u.GetNamespace(); ns != "" {
			_, err2 = ri.Namespace(ns).Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: "chaoslab", Force: true})
		} else {
			_, err2 = ri.Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: "chaoslab", Force: true})
		}
		if err2 != nil {
			return fmt.Errorf("apply %s %s: %w", u.GetKind(), u.GetName(), err2)
		}
	}
	return nil
}
