package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/chaoslab/chaoslab/lab/cluster/internal/kwokctl"
	"github.com/chaoslab/chaoslab/lab/cluster/internal/metricsserver"
	"github.com/chaoslab/chaoslab/lab/cluster/internal/node"
	"github.com/chaoslab/chaoslab/lab/cluster/internal/tools"
)

// Node runs the kwok provider's control plane (kwokctl's binary runtime) plus
// one real node: a kubelet and a private containerd with runc and the CNI
// bridge, so pods run real processes and metrics-server reads real CPU from
// the kubelet's summary API. Everything that is not loopback (the node IP, the
// pods' bridge and IPs) and every component live in a network namespace the
// run creates with no uplink; the host reaches the apiserver and the pods only
// through 127.0.0.1 (Cluster.Kubeconfig points at a relay, Cluster.DialPod
// opens sockets inside the namespace). Needs root, Debian's containerd, runc
// and containernetworking-plugins, and `make k8s-tools` (kubelet, pause).
type Node struct {
	ToolsDir string // default: scripts/k8s-tools.sh --print-dir or $CHAOSLAB_K8S_TOOLS
	WorkRoot string // default /tmp/chaoslab-node (short: socket paths < 108 bytes)
	Log      io.Writer
	// ControllerManagerArgs are merged over HPAControllerManagerArgs.
	ControllerManagerArgs map[string]string
	// MaxPods and Reserved shape the node's allocatable (kubeReserved); the
	// default reserves nothing, so allocatable is the machine's CPUs.
	MaxPods  int
	Reserved map[string]string
}

// NodeName is the real node's name in every node cluster.
const NodeName = "node-1"

// Name implements Provider.
func (n *Node) Name() string { return "node" }

// Available implements Provider.
func (n *Node) Available() (bool, string) {
	if os.Geteuid() != 0 {
		return false, "the node provider needs root (network namespace, mounts, cgroups): run as root"
	}
	for _, b := range []struct{ bin, pkg string }{
		{"containerd", "containerd"}, {"ctr", "containerd"}, {"runc", "runc"}, {"ip", "iproute2"},
		{"nsenter", "util-linux"}, {"unshare", "util-linux"}, {"iptables", "iptables"},
	} {
		if _, err := exec.LookPath(b.bin); err != nil {
			return false, fmt.Sprintf("%s missing: apt-get install %s (or make k8s-tools as root)", b.bin, b.pkg)
		}
	}
	for _, p := range []string{"bridge", "host-local", "portmap", "loopback"} {
		if _, err := os.Stat(filepath.Join(node.CNIBinDir, p)); err != nil {
			return false, fmt.Sprintf("CNI plugin %s missing in %s: apt-get install containernetworking-plugins", p, node.CNIBinDir)
		}
	}
	if _, err := os.Stat("/sys/fs/cgroup/cpu"); err != nil {
		if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err != nil {
			return false, "no cgroup cpu controller mounted under /sys/fs/cgroup: the kubelet needs cgroups"
		}
	}
	if _, err := n.toolsDir(); err != nil {
		var nb *tools.NotBuiltError
		if errors.As(err, &nb) {
			return false, "run `make k8s-tools` to build the control plane and kubelet (missing " + nb.Detail() + ")"
		}
		return false, "run `make k8s-tools` (" + err.Error() + ")"
	}
	return true, ""
}

func (n *Node) toolsDir() (string, error) {
	if n.ToolsDir != "" {
		return n.ToolsDir, tools.Check(n.ToolsDir, tools.NodeBinaries...)
	}
	dir, err := tools.Dir()
	if err != nil {
		return dir, err
	}
	return dir, tools.Check(dir, tools.NodeBinaries...)
}

func (n *Node) workRoot() string {
	if n.WorkRoot != "" {
		return n.WorkRoot
	}
	return "/tmp/chaoslab-node"
}

// nodeCluster is the node backend of a Cluster.
type nodeCluster struct {
	kwokCluster
	env        *node.Env
	containerd *node.Daemon
	kubelet    *node.Daemon
	relay      *node.Relay
	toolsDir   string

	mu           sync.Mutex
	images       map[string]bool // imported image tags
	podTransport *http.Transport
	kubeletConf  node.KubeletConfig
	// initialKubelet is the shape Create gave the node; restoreShape puts it
	// back after a tenant reshaped it.
	initialKubelet node.KubeletConfig
}

// Create implements Provider. On error everything started so far is removed.
func (n *Node) Create(ctx context.Context, name string) (_ *Cluster, err error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	if ok, reason := n.Available(); !ok {
		return nil, errors.New(reason)
	}
	dir, _ := n.toolsDir()
	start := time.Now()
	root := n.workRoot()
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	reapStale(root, n.Log, func(work string) {
		// A dead run's netns and cgroups are named after its cluster.
		base := filepath.Base(work)
		if i := strings.LastIndexByte(base, '-'); i > 0 {
			_ = node.Reclaim(work, "chaoslab-"+base[:i]).Teardown()
		}
	})
	work, err := os.MkdirTemp(root, name+"-")
	if err != nil {
		return nil, err
	}
	if err := writeOwner(work); err != nil {
		_ = os.RemoveAll(work)
		return nil, err
	}
	nc := &nodeCluster{toolsDir: dir, images: map[string]bool{}}
	nc.log = n.Log
	c := &Cluster{Name: name, Provider: n.Name(), Namespace: name, Dir: work, impl: nc}
	defer func() {
		if err != nil {
			_ = c.Delete(context.WithoutCancel(ctx))
		}
	}()
	step := func(what string, t0 time.Time) {
		if n.Log != nil {
			fmt.Fprintf(n.Log, "chaoslab node: %s in %s\n", what, time.Since(t0).Round(time.Millisecond))
		}
	}

	t0 := time.Now()
	if nc.env, err = node.Setup(ctx, work, "chaoslab-"+name); err != nil {
		return nil, fmt.Errorf("network namespace: %w", err)
	}
	step("netns and mount namespace", t0)

	t0 = time.Now()
	if nc.containerd, err = nc.env.StartContainerd(ctx); err != nil {
		return nil, err
	}
	pauseTar := filepath.Join(work, "pause.tar")
	pauseBin, err := os.ReadFile(filepath.Join(dir, "pause"))
	if err != nil {
		return nil, err
	}
	if err := node.ScratchImage(pauseTar, node.PauseImage, "pause", pauseBin); err != nil {
		return nil, err
	}
	if err := nc.env.ImportImage(ctx, pauseTar); err != nil {
		return nil, fmt.Errorf("pause image: %w", err)
	}
	step("containerd and pause image", t0)

	t0 = time.Now()
	cmArgs := kwokctl.HPAControllerManagerArgs()
	for k, v := range n.ControllerManagerArgs {
		cmArgs[k] = v
	}
	kwork := filepath.Join(work, "kwok")
	nc.conf = kwokctl.Config{
		Name: name, ToolsDir: dir, WorkDir: kwork, KubeVersion: KubeVersion,
		ControllerManagerArgs: cmArgs,
		Wrap:                  nc.env.Prefix(),
	}
	nc.conf.APIServerArgs = map[string]string{
		// kubectl logs/exec and the apiserver's kubelet calls authenticate as admin.
		"kubelet-client-certificate":      nc.conf.AdminCertPath(),
		"kubelet-client-key":              nc.conf.AdminKeyPath(),
		"kubelet-preferred-address-types": "InternalIP",
	}
	// kwok must leave the real node alone; simulated nodes (AddNode) carry
	// the annotation.
	nc.conf.KwokControllerArgs = map[string]string{
		"manage-all-nodes":                      "false",
		"manage-nodes-with-annotation-selector": AnnotationKwokNode + "=fake",
	}
	if err := createControlPlane(ctx, nc.conf, n.Log); err != nil {
		return nil, err
	}
	step("control plane (kwokctl)", t0)

	inner, err := clientcmd.LoadFromFile(nc.conf.KubeconfigPath())
	if err != nil {
		return nil, fmt.Errorf("kwokctl kubeconfig: %w", err)
	}
	var server string
	for _, cl := range inner.Clusters {
		server = cl.Server
	}
	u, err := url.Parse(server)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("kwokctl kubeconfig: no apiserver address (%q)", server)
	}
	if nc.relay, err = node.NewRelay(nc.env.NsPath(), u.Host); err != nil {
		return nil, err
	}
	for _, cl := range inner.Clusters {
		cl.Server = "https://" + nc.relay.Addr()
	}
	c.Kubeconfig = filepath.Join(work, "kubeconfig")
	if err := clientcmd.WriteToFile(*inner, c.Kubeconfig); err != nil {
		return nil, err
	}
	if c.RESTConfig, c.Client, c.Dynamic, err = connect(c.Kubeconfig, ""); err != nil {
		return nil, err
	}

	t0 = time.Now()
	nc.kubeletConf = node.KubeletConfig{
		Binary: filepath.Join(dir, "kubelet"), NodeName: NodeName, Server: server,
		CACert: nc.conf.CACertPath(), CAKey: filepath.Join(filepath.Dir(nc.conf.CACertPath()), "ca.key"),
		MaxPods: n.MaxPods, Reserved: n.Reserved,
	}
	nc.initialKubelet = nc.kubeletConf
	if nc.kubelet, err = nc.env.StartKubelet(nc.kubeletConf); err != nil {
		return nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	readyErr := make(chan error, 1)
	go func() { readyErr <- waitNodeReady(rctx, c, NodeName) }()
	select {
	case err = <-readyErr:
	case <-nc.kubelet.Exited():
		err = fmt.Errorf("kubelet exited (log %s)", filepath.Join(work, "kubelet.log"))
	}
	if err != nil {
		return nil, fmt.Errorf("%w (kubelet log: %s)", err, filepath.Join(work, "kubelet.log"))
	}
	step("node Ready", t0)
	// For simulated nodes added later (AddNode): kwok serves their metrics.
	if err := kwokctl.ApplyUsageObjects(ctx, c.Dynamic); err != nil {
		return nil, err
	}

	t0 = time.Now()
	nc.metrics, err = metricsserver.Start(metricsserver.Config{
		Binary:     filepath.Join(dir, "metrics-server"),
		Kubeconfig: nc.conf.KubeconfigPath(),
		CertFile:   nc.conf.AdminCertPath(),
		KeyFile:    nc.conf.AdminKeyPath(),
		WorkDir:    work,
		Wrap:       nc.env.Prefix(),
	})
	if err != nil {
		return nil, err
	}
	if err := metricsserver.Register(rctx, c.Client, c.Dynamic, nc.metrics.Port, nc.metrics.Exited()); err != nil {
		return nil, fmt.Errorf("%w (log: %s)", err, filepath.Join(work, "metrics-server.log"))
	}
	step("metrics-server registered", t0)
	if err := createNamespace(ctx, c.Client, c.Namespace, name); err != nil {
		return nil, err
	}
	c.Started = time.Since(start)
	deleteOnDone(ctx, c)
	return c, nil
}

// dialPod opens a TCP connection to addr (a pod IP and port) inside the run's
// network namespace.
func (nc *nodeCluster) dialPod(ctx context.Context, addr string) (net.Conn, error) {
	return node.Dial(ctx, nc.env.NsPath(), "tcp", addr)
}

// loadImage imports a docker-archive tar into the node's containerd once per tag.
func (nc *nodeCluster) loadImage(ctx context.Context, tag, tarPath string) error {
	nc.mu.Lock()
	defer nc.mu.Unlock()
	if nc.images[tag] {
		return nil
	}
	if err := nc.env.ImportImage(ctx, tarPath); err != nil {
		return err
	}
	nc.images[tag] = true
	return nil
}

func (nc *nodeCluster) delete(ctx context.Context, c *Cluster) error {
	var errs []error
	if nc.metrics != nil {
		errs = append(errs, nc.metrics.Stop())
	}
	// Pods first, while the kubelet runs: it stops their containers and tears
	// their sandboxes down through CNI.
	if c.Client != nil && nc.kubelet != nil {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		deletePodsOnNode(dctx, c)
		cancel()
	}
	errs = append(errs, nc.kubelet.Stop(10*time.Second))
	if nc.env != nil {
		if _, err := os.Stat(nc.conf.ClusterDir()); err == nil {
			errs = append(errs, stopControlPlane(nc.conf, 5*time.Second)) // controlplane.go
			errs = append(errs, kwokctl.Delete(ctx, nc.conf, nc.log))
		}
	}
	if nc.relay != nil {
		errs = append(errs, nc.relay.Close())
	}
	nc.mu.Lock()
	if nc.podTransport != nil {
		nc.podTransport.CloseIdleConnections()
	}
	nc.mu.Unlock()
	if nc.env != nil {
		errs = append(errs, nc.containerd.Stop(5*time.Second))
		errs = append(errs, nc.env.Teardown())
	}
	errs = append(errs, removeWorkDir(c.Dir))
	return errors.Join(errs...)
}

// deletePodsOnNode deletes the real node's pods at once and waits (bounded by
// ctx) until the kubelet has removed them; Deployments are deleted first so
// their ReplicaSets make no new ones.
func deletePodsOnNode(ctx context.Context, c *Cluster) {
	// Not 0: that removes the object at once (a forced delete) and leaves the
	// kubelet to clean up behind the lab's back; 1 s lets it confirm.
	one := int64(1)
	if ns := c.Namespace; ns != "" {
		_ = c.Client.AppsV1().Deployments(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
		_ = c.Client.AppsV1().ReplicaSets(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
	}
	sel := metav1.ListOptions{FieldSelector: "spec.nodeName=" + NodeName}
	for ctx.Err() == nil {
		l, err := c.Client.CoreV1().Pods("").List(ctx, sel)
		if err != nil || len(l.Items) == 0 {
			return
		}
		for _, p := range l.Items {
			if p.DeletionTimestamp == nil {
				_ = c.Client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &one})
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// addNode on a node cluster: NodeName is the real node, whose allocatable
// is shaped to n (kubeReserved = capacity - n.CPU, maxPods = n.Pods; the
// kubelet restarts with it); any other name is a kwok simulated node, since a
// second kubelet cannot run in the same netns and cgroup root.
func (nc *nodeCluster) addNode(ctx context.Context, c *Cluster, n NodeSpec) error {
	if n.Name != NodeName {
		return nc.kwokCluster.addNode(ctx, c, n)
	}
	want, err := resource.ParseQuantity(n.CPU)
	if err != nil {
		return fmt.Errorf("node %s: cpu %q: %w", n.Name, n.CPU, err)
	}
	got, err := c.Client.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	capacity := got.Status.Capacity[corev1.ResourceCPU]
	conf := nc.kubeletConf
	conf.Reserved = map[string]string{}
	for k, v := range nc.kubeletConf.Reserved {
		conf.Reserved[k] = v
	}
	if want.Cmp(capacity) < 0 {
		conf.Reserved["cpu"] = fmt.Sprintf("%dm", capacity.MilliValue()-want.MilliValue())
	}
	if n.Pods > 0 {
		conf.MaxPods = n.Pods
	}
	if sameShape(conf, nc.kubeletConf) {
		return nil // already this shape (asked for more CPU than the machine has: kept)
	}
	wantAlloc := want
	if want.Cmp(capacity) >= 0 {
		wantAlloc = capacity
	}
	return nc.reshape(ctx, c, conf, wantAlloc)
}

// sameShape reports whether two kubelet configurations give the node the
// same allocatable and pod limit.
func sameShape(a, b node.KubeletConfig) bool {
	if a.MaxPods != b.MaxPods || len(a.Reserved) != len(b.Reserved) {
		return false
	}
	for k, v := range a.Reserved {
		if b.Reserved[k] != v {
			return false
		}
	}
	return true
}

// reshape restarts the kubelet with conf and waits until the node reports
// wantAlloc CPU allocatable and is Ready.
func (nc *nodeCluster) reshape(ctx context.Context, c *Cluster, conf node.KubeletConfig, wantAlloc resource.Quantity) error {
	if err := nc.kubelet.Stop(10 * time.Second); err != nil {
		return err
	}
	nc.kubeletConf = conf
	var err error
	if nc.kubelet, err = nc.env.StartKubelet(conf); err != nil {
		return err
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		got, err := c.Client.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err == nil {
			alloc := got.Status.Allocatable[corev1.ResourceCPU]
			if alloc.MilliValue() == wantAlloc.MilliValue() && nodeReady(got) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s: allocatable cpu never became %s: %w", NodeName, wantAlloc.String(), ctx.Err())
		case <-nc.kubelet.Exited():
			return fmt.Errorf("kubelet exited after its restart (log %s)", nc.kubelet.Log)
		case <-tick.C:
		}
	}
}

// restoreShape gives the real node back the allocatable Create gave it
// (a tenant shrank it): the kubelet restarts with its first configuration.
// Also after a reshape that failed halfway (a kubelet that never came back).
func (nc *nodeCluster) restoreShape(ctx context.Context, c *Cluster) error {
	if sameShape(nc.kubeletConf, nc.initialKubelet) && nc.kubelet != nil && nodeRunning(nc.kubelet) {
		return nil
	}
	got, err := c.Client.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	wantAlloc := got.Status.Capacity[corev1.ResourceCPU]
	if r, ok := nc.initialKubelet.Reserved["cpu"]; ok {
		q, err := resource.ParseQuantity(r)
		if err != nil {
			return fmt.Errorf("kubeReserved cpu %q: %w", r, err)
		}
		wantAlloc.Sub(q)
	}
	return nc.reshape(ctx, c, nc.initialKubelet, wantAlloc)
}

// nodeRunning reports whether the kubelet daemon has not exited.
func nodeRunning(d *node.Daemon) bool {
	select {
	case <-d.Exited():
		return false
	default:
		return true
	}
}

func nodeReady(n *corev1.Node) bool {
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}
