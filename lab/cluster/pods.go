package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"

	"github.com/chaoslab/chaoslab/lab/cluster/internal/node"
)

// Real pods: on node, kind and existing clusters a workload's pods run the
// project's own static binary (`chaoslab fake upstream`, FROM scratch), and
// each request costs real CPU (--cpu-per-request), which the kubelet measures
// and metrics-server reports. On kwok the pods stay simulated.

// EnvWorkloadImage names the image of the chaoslab binary an existing cluster
// can pull (the lab cannot load images into a cluster it does not own).
const EnvWorkloadImage = "CHAOSLAB_WORKLOAD_IMAGE"

// workloadRepo is the image repository of the lab-built image (never pulled:
// imagePullPolicy Never).
const workloadRepo = "chaoslab.local/chaoslab"

// imageLoader is a backend that can take a docker-archive tar into its nodes.
type imageLoader interface {
	loadImage(ctx context.Context, tag, tarPath string) error
}

// podRouter is a backend whose pods the host can reach: the URL to send a
// pod's requests to and the transport that reaches it.
type podRouter interface {
	podTarget(p *corev1.Pod, port int32) (*url.URL, http.RoundTripper, error)
}

// SimulatedNode reports whether pods on node are simulated by kwok (run no
// container): every node of a kwok cluster, the nodes AddNode adds to a node
// cluster.
func (c *Cluster) SimulatedNode(name string) bool {
	switch c.Provider {
	case "kwok":
		return true
	case "node":
		return name != NodeName
	}
	return false
}

// RealPods reports whether the cluster runs the workload's pods as real
// containers (with at least one real node).
func (c *Cluster) RealPods() bool { return c.Provider != "kwok" }

var workloadImageCache struct {
	sync.Mutex
	tag, tar string
}

// WorkloadImage builds the project's binary (CGO_ENABLED=0, from the chaoslab
// module of the working directory or $CHAOSLAB_SOURCE) and writes it as a
// FROM-scratch docker-archive tar under the user cache, tagged by its content
// hash. Built once per process.
func WorkloadImage(ctx context.Context) (tag, tarPath string, err error) {
	workloadImageCache.Lock()
	defer workloadImageCache.Unlock()
	if workloadImageCache.tag != "" {
		return workloadImageCache.tag, workloadImageCache.tar, nil
	}
	src, err := chaoslabSource(ctx)
	if err != nil {
		return "", "", err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "chaoslab", "images")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	tmp, err := os.MkdirTemp(dir, ".build-")
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "chaoslab")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "./cmd/chaoslab")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("go build ./cmd/chaoslab for the workload image: %w: %s", err, bytes.TrimSpace(out))
	}
	content, err := os.ReadFile(bin)
	if err != nil {
		return "", "", err
	}
	sum := sha256.Sum256(content)
	h := hex.EncodeToString(sum[:])[:16]
	tag = workloadRepo + ":" + h
	tarPath = filepath.Join(dir, "chaoslab-"+h+".tar")
	if _, err := os.Stat(tarPath); err != nil {
		part := filepath.Join(tmp, "image.tar")
		if err := node.ScratchImage(part, tag, "chaoslab", content); err != nil {
			return "", "", err
		}
		if err := os.Rename(part, tarPath); err != nil {
			return "", "", err
		}
		// One image per binary content: the older ones (86 MB each) are stale.
		olds, _ := filepath.Glob(filepath.Join(dir, "chaoslab-*.tar"))
		for _, o := range olds {
			if o != tarPath {
				_ = os.Remove(o)
			}
		}
	}
	workloadImageCache.tag, workloadImageCache.tar = tag, tarPath
	return tag, tarPath, nil
}

// chaoslabSource is the chaoslab checkout: $CHAOSLAB_SOURCE or the module of
// the working directory (tests and make run inside it).
func chaoslabSource(ctx context.Context) (string, error) {
	dir := os.Getenv("CHAOSLAB_SOURCE")
	if dir == "" {
		out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
		if err != nil {
			return "", fmt.Errorf("workload image: built from the chaoslab source with the go tool: %w", err)
		}
		dir = filepath.Dir(strings.TrimSpace(string(out)))
	}
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil || !bytes.Contains(b, []byte("module github.com/chaoslab/chaoslab\n")) {
		return "", fmt.Errorf("workload image: %s is not the chaoslab module: run inside the checkout or set CHAOSLAB_SOURCE", dir)
	}
	return dir, nil
}

// WorkloadImageRef returns the image the workload's pods run on c, loaded
// into its nodes where the lab owns them.
func (c *Cluster) WorkloadImageRef(ctx context.Context) (string, error) {
	loader, ok := c.backend().(imageLoader)
	if !ok {
		if img := os.Getenv(EnvWorkloadImage); img != "" {
			return img, nil
		}
		return "", fmt.Errorf("real pods on a %s cluster: set %s to an image of the chaoslab binary the cluster can pull", c.Provider, EnvWorkloadImage)
	}
	tag, tarPath, err := WorkloadImage(ctx)
	if err != nil {
		return "", err
	}
	if err := loader.loadImage(ctx, tag, tarPath); err != nil {
		return "", fmt.Errorf("load image %s into the %s cluster: %w", tag, c.Provider, err)
	}
	return tag, nil
}

// Serving reports whether pod p gets requests: Running (and, for a real pod,
// Ready: its readiness probe passed) and not being deleted.
func (c *Cluster) Serving(p *corev1.Pod) bool {
	if !Running(p) {
		return false
	}
	if c.SimulatedNode(p.Spec.NodeName) {
		return true
	}
	return p.Status.PodIP != "" && PodReady(p)
}

// PodReady reports the pod's Ready condition (its containers' readiness
// probes passed).
func PodReady(p *corev1.Pod) bool {
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podTarget on a node cluster: the pod IP inside the run's netns, reached by
// sockets made there.
func (nc *nodeCluster) podTarget(p *corev1.Pod, port int32) (*url.URL, http.RoundTripper, error) {
	nc.mu.Lock()
	if nc.podTransport == nil {
		nc.podTransport = &http.Transport{
			DialContext:         func(ctx context.Context, _, addr string) (net.Conn, error) { return nc.dialPod(ctx, addr) },
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     30 * time.Second,
		}
	}
	tr := nc.podTransport
	nc.mu.Unlock()
	ip := net.ParseIP(p.Status.PodIP)
	if ip == nil {
		return nil, nil, fmt.Errorf("pod %s has no IP", p.Name)
	}
	_, subnet, _ := net.ParseCIDR(node.PodSubnet)
	if !subnet.Contains(ip) {
		return nil, nil, fmt.Errorf("pod %s IP %s is outside the run's pod subnet %s", p.Name, ip, node.PodSubnet)
	}
	return &url.URL{Scheme: "http", Host: net.JoinHostPort(ip.String(), strconv.Itoa(int(port)))}, tr, nil
}

// apiserverPodTarget reaches a pod through the apiserver's pod proxy
// (/api/v1/namespaces/NS/pods/NAME:PORT/proxy): what kind and existing
// clusters use, whose pod IPs the host cannot route to.
func apiserverPodTarget(c *Cluster, p *corev1.Pod, port int32) (*url.URL, http.RoundTripper, error) {
	if c.RESTConfig == nil {
		return nil, nil, errors.New("no REST config")
	}
	rt, err := rest.TransportFor(c.RESTConfig)
	if err != nil {
		return nil, nil, err
	}
	base, err := url.Parse(c.RESTConfig.Host)
	if err != nil {
		return nil, nil, err
	}
	base.Path = fmt.Sprintf("/api/v1/namespaces/%s/pods/%s:%d/proxy", p.Namespace, p.Name, port)
	return base, rt, nil
}

// PodTarget is where p's requests go on c.
func (c *Cluster) PodTarget(p *corev1.Pod, port int32) (*url.URL, http.RoundTripper, error) {
	if r, ok := c.backend().(podRouter); ok {
		return r.podTarget(p, port)
	}
	return apiserverPodTarget(c, p, port)
}

// Running is the pod states that get a replica or requests: Running and not
// being deleted.
func Running(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil
}
