package scenarios

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chaoslab/chaoslab/lab/cluster"
)

// annotationResourceMetricsPath is where metrics-server (>= v0.7) reads a
// node's kubelet resource metrics; kwok serves every node on one port.
const annotationResourceMetricsPath = "metrics.k8s.io/resource-metrics-path"

// kubeletClock reads every kwok node's kubelet resource metrics once a second
// while the lab runs, so kwok's CPU counters tick like a kubelet's.
//
// Why: kwok (v0.8.0, pkg/kwok/server/metrics_resource_usage.go) keeps a pod's
// cumulative CPU by adding "usage now × time since the last read" each time the
// metrics are read. Read only by metrics-server every 10 s, that has two
// effects a real kubelet does not have:
//   - a new pod's first read returns 0 CPU, which metrics-server drops
//     ("Failed getting complete container metric"), so its metrics, and any
//     HPA decision about it, come one scrape (10 s) later than on a kubelet;
//   - the 10 s rate metrics-server computes is the usage at the instant of the
//     scrape, not the average over the 10 s.
//
// Read every second, the counter starts when the pod starts and integrates the
// simulated usage in 1 s steps: metrics-server then reports a 10 s average one
// scrape after the pod appears, as it would on real nodes. Reads go only to
// nodes whose address is loopback (kwok serves them all on 127.0.0.1).
type kubeletClock struct {
	cancel context.CancelFunc
	done   chan struct{}
	tr     *http.Transport

	mu    sync.Mutex
	reads int
	errs  []string
}

// startKubeletClock starts the reads on a kwok cluster; other providers have
// real kubelets and get none (nil).
func startKubeletClock(ctx context.Context, c *cluster.Cluster, every time.Duration) *kubeletClock {
	if c.Provider != "kwok" {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	k := &kubeletClock{cancel: cancel, done: make(chan struct{}),
		// kwok serves a self-signed certificate on loopback, as kubelets do
		// (metrics-server runs with --kubelet-insecure-tls for the same reason).
		tr: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, MaxIdleConnsPerHost: 2}}
	go func() {
		defer close(k.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			k.readAll(ctx, c)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return k
}

func (k *kubeletClock) readAll(ctx context.Context, c *cluster.Cluster) {
	nodes, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		k.fail(err)
		return
	}
	for i := range nodes.Items {
		if u, ok := resourceMetricsURL(&nodes.Items[i]); ok {
			k.read(ctx, u)
		}
	}
}

// resourceMetricsURL is where kwok serves node n's kubelet resource metrics,
// if n is a loopback kwok node.
func resourceMetricsURL(n *corev1.Node) (string, bool) {
	path := n.Annotations[annotationResourceMetricsPath]
	port := n.Status.DaemonEndpoints.KubeletEndpoint.Port
	if path == "" || port == 0 {
		return "", false
	}
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			if ip := net.ParseIP(a.Address); ip != nil && ip.IsLoopback() {
				return "https://" + net.JoinHostPort(a.Address, strconv.Itoa(int(port))) + path, true
			}
		}
	}
	return "", false
}

func (k *kubeletClock) read(ctx context.Context, u string) {
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, u, nil)
	if err != nil {
		k.fail(err)
		return
	}
	resp, err := k.tr.RoundTrip(req)
	if err != nil {
		if ctx.Err() == nil {
			k.fail(err)
		}
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	k.mu.Lock()
	k.reads++
	k.mu.Unlock()
	// A node kwok has not picked up yet answers 404 for a moment.
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNotFound {
		k.fail(fmt.Errorf("GET %s: %s", u, resp.Status))
	}
}

func (k *kubeletClock) fail(err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.errs) < 20 {
		k.errs = append(k.errs, err.Error())
	}
}

// Close stops the reads and waits for them. Idempotent; nil-safe.
func (k *kubeletClock) Close() error {
	if k == nil {
		return nil
	}
	k.cancel()
	<-k.done
	k.tr.CloseIdleConnections()
	return nil
}
