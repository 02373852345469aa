package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chaoslab/chaoslab/lab/cluster/internal/kwokctl"
	"github.com/chaoslab/chaoslab/lab/cluster/internal/metricsserver"
	"github.com/chaoslab/chaoslab/lab/cluster/internal/proc"
	"github.com/chaoslab/chaoslab/lab/cluster/internal/tools"
)

// KubeVersion is the Kubernetes version scripts/k8s-tools.sh builds.
const KubeVersion = "v1.34.4"

// Kwok runs a real control plane (etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler) as local processes with kwok simulating nodes and pods, plus
// metrics-server fed by kwok's simulated usage. It needs only the binaries
// `make k8s-tools` builds; a cluster is up in seconds.
type Kwok struct {
	// ToolsDir holds the binaries; default: what scripts/k8s-tools.sh reports
	// (or $CHAOSLAB_K8S_TOOLS).
	ToolsDir string
	// WorkRoot is where per-cluster work dirs are made; default
	// $TMPDIR/chaoslab-kwok.
	WorkRoot string
	// Log receives kwokctl's output; default discarded (it is also in the
	// work dir while the cluster lives).
	Log io.Writer
	// ControllerManagerArgs are merged over HPAControllerManagerArgs.
	ControllerManagerArgs map[string]string
}

// HPAControllerManagerArgs are the kube-controller-manager flags every kwok
// cluster gets so the HPA reacts in seconds (sync 1 s, CPU initialization 5 s,
// initial readiness delay 1 s, downscale stabilization 5 s).
func HPAControllerManagerArgs() map[string]string { return kwokctl.HPAControllerManagerArgs() }

// Name implements Provider.
func (k *Kwok) Name() string { return "kwok" }

// Available implements Provider: the built binaries must be there.
func (k *Kwok) Available() (bool, string) {
	if _, err := k.toolsDir(); err != nil {
		var nb *tools.NotBuiltError
		if errors.As(err, &nb) {
			return false, "run `make k8s-tools` to build the kwok control plane (missing " + nb.Detail() + ")"
		}
		return false, "run `make k8s-tools` to build the kwok control plane (" + err.Error() + ")"
	}
	return true, ""
}

func (k *Kwok) toolsDir() (string, error) {
	if k.ToolsDir != "" {
		return k.ToolsDir, tools.Check(k.ToolsDir)
	}
	return tools.Dir()
}

func (k *Kwok) workRoot() string {
	if k.WorkRoot != "" {
		return k.WorkRoot
	}
	return filepath.Join(os.TempDir(), "chaoslab-kwok")
}

// kwokCluster is the kwok backend of a Cluster.
type kwokCluster struct {
	conf    kwokctl.Config
	metrics *metricsserver.Process
	log     io.Writer
}

// Create implements Provider. On error everything started so far is removed.
func (k *Kwok) Create(ctx context.Context, name string) (_ *Cluster, err error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	dir, err := k.toolsDir()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	root := k.workRoot()
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	reapStale(root, k.Log, nil)
	work, err := os.MkdirTemp(root, name+"-")
	if err != nil {
		return nil, err
	}
	if err := writeOwner(work); err != nil {
		_ = os.RemoveAll(work)
		return nil, err
	}
	args := kwokctl.HPAControllerManagerArgs()
	for key, v := range k.ControllerManagerArgs {
		args[key] = v
	}
	kc := &kwokCluster{
		conf: kwokctl.Config{
			Name: name, ToolsDir: dir, WorkDir: work, KubeVersion: KubeVersion,
			ControllerManagerArgs: args,
		},
		log: k.Log,
	}
	c := &Cluster{Name: name, Provider: k.Name(), Namespace: name, Kubeconfig: kc.conf.KubeconfigPath(), Dir: work, impl: kc}
	defer func() {
		if err != nil {
			_ = c.Delete(context.WithoutCancel(ctx))
		}
	}()

	if err := createControlPlane(ctx, kc.conf, k.Log); err != nil {
		return nil, err
	}
	if c.RESTConfig, c.Client, c.Dynamic, err = connect(c.Kubeconfig, ""); err != nil {
		return nil, err
	}
	if err := kwokctl.ApplyUsageObjects(ctx, c.Dynamic); err != nil {
		return nil, err
	}
	kc.metrics, err = metricsserver.Start(metricsserver.Config{
		Binary:     filepath.Join(dir, "metrics-server"),
		Kubeconfig: c.Kubeconfig,
		CertFile:   kc.conf.AdminCertPath(),
		KeyFile:    kc.conf.AdminKeyPath(),
		WorkDir:    work,
	})
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := metricsserver.Register(rctx, c.Client, c.Dynamic, kc.metrics.Port, kc.metrics.Exited()); err != nil {
		return nil, fmt.Errorf("%w (log: %s)", err, filepath.Join(work, "metrics-server.log"))
	}
	if err := createNamespace(ctx, c.Client, c.Namespace, name); err != nil {
		return nil, err
	}
	c.Started = time.Since(start)
	deleteOnDone(ctx, c)
	return c, nil
}

func (kc *kwokCluster) delete(ctx context.Context, _ *Cluster) error {
	var errs []error
	if kc.metrics != nil {
		errs = append(errs, kc.metrics.Stop())
	}
	// Stop and wait for every component first (kwokctl delete SIGKILLs
	// without waiting): Close returns only once they have exited.
	errs = append(errs, stopControlPlane(kc.conf, 5*time.Second))
	errs = append(errs, kwokctl.Delete(ctx, kc.conf, kc.log))
	errs = append(errs, removeWorkDir(kc.conf.WorkDir))
	return errors.Join(errs...)
}

// removeWorkDir kills whatever still mentions the work dir (a component whose
// pid file kwokctl never wrote because create was interrupted) and removes it.
func removeWorkDir(work string) error {
	var errs []error
	if _, err := proc.KillUnder(work, 5*time.Second); err != nil {
		errs = append(errs, err)
	}
	if err := os.RemoveAll(work); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Node annotations kwok and metrics-server read.
const (
	// AnnotationKwokNode makes kwok manage the node (kwokctl runs kwok with
	// --manage-all-nodes, the annotation keeps it managed under any setting).
	AnnotationKwokNode = "kwok.x-k8s.io/node"
	// annotationMetricsPath tells metrics-server (>= v0.7) where this node's
	// kubelet-style resource metrics are: kwok serves every node on one port.
	annotationMetricsPath = "metrics.k8s.io/resource-metrics-path"
)

func (kc *kwokCluster) addNode(ctx context.Context, c *Cluster, n NodeSpec) error {
	node, err := kwokNode(n)
	if err != nil {
		return err
	}
	if _, err := c.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("add node %s: %w", n.Name, err)
	}
	return waitNodeReady(ctx, c, n.Name)
}

// kwokNode builds the Node object for a simulated node.
func kwokNode(n NodeSpec) (*corev1.Node, error) {
	if err := ValidName(n.Name); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	cpu, err := resource.ParseQuantity(n.CPU)
	if err != nil {
		return nil, fmt.Errorf("node %s: cpu %q: %w", n.Name, n.CPU, err)
	}
	mem, err := resource.ParseQuantity(n.Memory)
	if err != nil {
		return nil, fmt.Errorf("node %s: memory %q: %w", n.Name, n.Memory, err)
	}
	pods := n.Pods
	if pods == 0 {
		pods = 110
	}
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    cpu,
		corev1.ResourceMemory: mem,
		corev1.ResourcePods:   resource.MustParse(strconv.Itoa(pods)),
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: n.Name,
			Annotations: map[string]string{
				AnnotationKwokNode:    "fake",
				annotationMetricsPath: "/metrics/nodes/" + n.Name + "/metrics/resource",
			},
			Labels: map[string]string{
				"type":                          "kwok",
				"kubernetes.io/hostname":        n.Name,
				"kubernetes.io/os":              "linux",
				"kubernetes.io/arch":            "amd64",
				"kubernetes.io/role":            "agent",
				"node-role.kubernetes.io/agent": "",
			},
		},
		// kwok's node-initialize stage keeps a given capacity, allocatable and
		// InternalIP. kwokctl's binary runtime starts kwok with an empty
		// --node-ip, so without an InternalIP metrics-server would fall back to
		// the Hostname "localhost"; kwok serves every node on 127.0.0.1.
		Status: corev1.NodeStatus{
			Capacity:    capacity,
			Allocatable: capacity.DeepCopy(),
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: "127.0.0.1"},
				{Type: corev1.NodeHostName, Address: n.Name},
			},
		},
	}
	for k, v := range n.Labels {
		node.Labels[k] = v
	}
	return node, nil
}

func waitNodeReady(ctx context.Context, c *Cluster, name string) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		node, err := c.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		if err == nil {
			for _, cond := range node.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s never became Ready: %w", name, ctx.Err())
		case <-tick.C:
		}
	}
}

// The owner file lets a later Create remove clusters whose lab process died
// without calling Delete (SIGKILL, `go test -timeout` panics): their work dirs
// and processes would otherwise outlive them.
const ownerFile = "owner"

func writeOwner(work string) error {
	return os.WriteFile(filepath.Join(work, ownerFile), []byte(strconv.Itoa(os.Getpid())+" "+procStart(os.Getpid())), 0o644)
}

// procStart is the process's start time in clock ticks since boot (field 22 of
// /proc/PID/stat): a pid plus its start time names a process even after pid reuse.
func procStart(pid int) string {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return ""
	}
	return f[19]
}

// reapStale deletes work dirs under root whose owner process is gone, after
// reclaim (if any) has removed what the provider made outside the dir.
func reapStale(root string, log io.Writer, reclaim func(work string)) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range entries {
		work := filepath.Join(root, e.Name())
		raw, err := os.ReadFile(filepath.Join(work, ownerFile))
		if err != nil {
			continue // not ours, or still being set up
		}
		f := strings.Fields(string(raw))
		if len(f) == 2 {
			if pid, err := strconv.Atoi(f[0]); err == nil && proc.Alive(pid) && procStart(pid) == f[1] {
				continue
			}
		}
		if log != nil {
			fmt.Fprintf(log, "chaoslab: removing stale cluster %s (its lab process is gone)\n", work)
		}
		if reclaim != nil {
			reclaim(work)
		}
		_ = removeWorkDir(work)
	}
}
