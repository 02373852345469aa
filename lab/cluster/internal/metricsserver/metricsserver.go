// Package metricsserver runs the locally built metrics-server binary next to a
// binary-runtime control plane and registers it as the v1beta1.metrics.k8s.io
// APIService, the way kwokctl does for its own metrics-server component
// (kwok v0.8.0 pkg/kwokctl/components/metrics_server*.go) but without the
// manifest kwokctl would download.
package metricsserver

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

// Config says how to run metrics-server.
type Config struct {
	Binary     string
	Kubeconfig string // admin kubeconfig; also used for delegated authn/authz
	CertFile   string // serving certificate (the aggregator skips verification)
	KeyFile    string
	WorkDir    string // its log and pid file go here
	// MetricResolution is the scrape interval; metrics-server refuses less than 10s.
	MetricResolution time.Duration
	// Wrap is a command prefix to run it under (the node provider's nsenter).
	Wrap []string
}

// Args renders the flags, the native-runtime set kwokctl uses.
func (c Config) Args(port int) []string {
	res := c.MetricResolution
	if res == 0 {
		res = 10 * time.Second
	}
	return []string{
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--kubeconfig=" + c.Kubeconfig,
		"--authentication-kubeconfig=" + c.Kubeconfig,
		"--authorization-kubeconfig=" + c.Kubeconfig,
		"--tls-cert-file=" + c.CertFile,
		"--tls-private-key-file=" + c.KeyFile,
		// kwok nodes have no kubelet certificate; kwok serves the kubelet's
		// /metrics/resource per node at the path in the node annotation
		// metrics.k8s.io/resource-metrics-path, on the port in the node status.
		"--kubelet-insecure-tls",
		"--kubelet-use-node-status-port",
		"--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
		"--metric-resolution=" + res.String(),
		"--kubelet-request-timeout=" + (res * 8 / 10).String(),
	}
}

// Process is a running metrics-server.
type Process struct {
	Port int
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
	once sync.Once
	err  error
}

// Start launches metrics-server on a free loopback port.
func Start(cfg Config) (*Process, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(cfg.WorkDir, "metrics-server.log"))
	if err != nil {
		return nil, err
	}
	argv := append([]string{cfg.Binary}, cfg.Args(port)...)
	if len(cfg.Wrap) > 0 {
		argv = append(append([]string(nil), cfg.Wrap...), argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = cfg.WorkDir
	// Its own process group, so a terminal's Ctrl-C reaches the lab (which stops it
	// in order) rather than killing it behind the lab's back; Pdeathsig so it does
	// not outlive a lab process that is killed outright.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return nil, fmt.Errorf("metrics-server: %w", err)
	}
	_ = os.WriteFile(filepath.Join(cfg.WorkDir, "metrics-server.pid"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644)
	p := &Process{Port: port, cmd: cmd, log: logf, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

// Exited is closed when the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.done }

// Stop terminates metrics-server and waits for it; it is idempotent.
func (p *Process) Stop() error {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		_ = p.log.Close()
	})
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// APIServiceGVR is apiregistration.k8s.io/v1 apiservices (no typed client in
// the project's dependencies, so it goes through the dynamic client).
var APIServiceGVR = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}

// APIServiceName is the name metrics-server's upstream manifest uses.
const APIServiceName = "v1beta1.metrics.k8s.io"

// Service is an ExternalName Service to 127.0.0.1: the aggregator resolves an
// ExternalName service to its name and the APIService's port, which reaches a
// process on the apiserver's host without --enable-aggregator-routing or
// Endpoints (kwokctl's own approach for the binary runtime).
func Service() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "metrics-server", Namespace: "kube-system", Labels: map[string]string{"k8s-app": "metrics-server"}},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "127.0.0.1"},
	}
}

// APIService registers metrics.k8s.io/v1beta1 at the Service above on port.
func APIService(port int) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiregistration.k8s.io/v1",
		"kind":       "APIService",
		"metadata": map[string]any{
			"name":   APIServiceName,
			"labels": map[string]any{"k8s-app": "metrics-server"},
		},
		"spec": map[string]any{
			"group":                 "metrics.k8s.io",
			"version":               "v1beta1",
			"groupPriorityMinimum":  int64(100),
			"versionPriority":       int64(100),
			"insecureSkipTLSVerify": true,
			"service": map[string]any{
				"name":      "metrics-server",
				"namespace": "kube-system",
				"port":      int64(port),
			},
		},
	}}
}

// Register creates the Service and APIService and waits until the aggregator
// reports the APIService Available (it probes metrics-server through the proxy
// path every request will take).
func Register(ctx context.Context, cs kubernetes.Interface, dyn dynamic.Interface, port int, exited <-chan struct{}) error {
	if _, err := cs.CoreV1().Services("kube-system").Create(ctx, Service(), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("metrics-server service: %w", err)
	}
	if _, err := dyn.Resource(APIServiceGVR).Create(ctx, APIService(port), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("metrics-server apiservice: %w", err)
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	last := "not observed yet"
	for {
		obj, err := dyn.Resource(APIServiceGVR).Get(ctx, APIServiceName, metav1.GetOptions{})
		if err == nil {
			conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
			for _, c := range conds {
				m, _ := c.(map[string]any)
				if m["type"] == "Available" {
					if m["status"] == "True" {
						return nil
					}
					last = fmt.Sprintf("Available=%v %v: %v", m["status"], m["reason"], m["message"])
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("metrics-server apiservice never became available (%s): %w", last, ctx.Err())
		case <-exited:
			return fmt.Errorf("metrics-server exited before its apiservice became available (%s)", last)
		case <-tick.C:
		}
	}
}
