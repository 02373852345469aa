package autoscale

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/chaoslab/chaoslab/lab/cluster"
)

// fakeCluster is a cluster.Cluster over client-go's fake clientset: the simulator's
// informer, replicas, load balancing and usage writes run for real; only the
// API server is in memory.
func fakeCluster() *cluster.Cluster {
	return &cluster.Cluster{Name: "lab", Provider: "kwok", Namespace: "lab", Client: fake.NewClientset()}
}

func simPod(name string, phase corev1.PodPhase) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "lab", UID: types.UID("uid-" + name),
			Labels: map[string]string{"app": "web", LabelWorkload: "web"}},
		Status: corev1.PodStatus{Phase: phase},
	}
}

type replicaLog struct {
	mu      sync.Mutex
	started []string
	stopped []string
}

func (l *replicaLog) factory(ctx context.Context, pod string) (string, func() error, error) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, pod) }))
	l.mu.Lock()
	l.started = append(l.started, pod)
	l.mu.Unlock()
	return srv.URL, func() error {
		srv.Close()
		l.mu.Lock()
		l.stopped = append(l.stopped, pod)
		l.mu.Unlock()
		return nil
	}, nil
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSimulatorFollowsRunningPodsAndWritesUsage(t *testing.T) {
	ctx := context.Background()
	c := fakeCluster()
	w := &Workload{Spec: WorkloadSpec{Name: "web", CPUCostPerRequest: 50}, Namespace: "lab", Labels: map[string]string{"app": "web", LabelWorkload: "web"}, c: c}
	pods := c.Client.CoreV1().Pods("lab")
	for _, p := range []*corev1.Pod{simPod("web-a", corev1.PodRunning), simPod("web-b", corev1.PodPending)} {
		if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var log replicaLog
	sim, err := Simulate(ctx, w, log.factory, WithUsageInterval(100*time.Millisecond), WithIdleCPU(2))
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()

	waitUntil(t, "one replica for the Running pod", func() bool { return len(sim.Endpoints()) == 1 })

	// web-b starts Running: it gets a replica too.
	if _, err := pods.UpdateStatus(ctx, simPod("web-b", corev1.PodRunning), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "two replicas", func() bool { return len(sim.Endpoints()) == 2 })

	client := &http.Client{Transport: sim.RoundTripper()}
	seen := map[string]int{}
	for range 10 {
		resp, err := client.Get("http://web.lab.svc/hello")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		seen[string(body)]++
	}
	if seen["web-a"] != 5 || seen["web-b"] != 5 {
		t.Errorf("round robin over 2 replicas gave %v", seen)
	}
	if s := sim.Served(); s["web-a"] != 5 || s["web-b"] != 5 {
		t.Errorf("Served() = %v", s)
	}

	// The next usage write turns the served requests into the annotation:
	// 5 requests in ~100 ms at 50 m·s each is ~2500m, plus 2m idle.
	waitUntil(t, "a usage annotation above idle", func() bool {
		p, err := pods.Get(ctx, "web-a", metav1.GetOptions{})
		if err != nil {
			return false
		}
		v := p.Annotations[AnnotationUsageCPU]
		return v != "" && v != "2m"
	})
	var busy *UsageSample
	for _, u := range sim.Usage() {
		if u.Pod == "web-a" && u.Millicore > 2 {
			busy = &u
			break
		}
	}
	if busy == nil || busy.Rate <= 0 {
		t.Fatalf("no busy usage sample for web-a: %+v", sim.Usage())
	}
	if want := 2 + int64(busy.Rate*50+0.5); busy.Millicore < want-1 || busy.Millicore > want+1 {
		t.Errorf("usage %dm for rate %.1f/s, want idle 2m + rate x 50 = %dm", busy.Millicore, busy.Rate, want)
	}
	// Idle again: the annotation returns to the idle CPU, never 0.
	waitUntil(t, "the idle usage", func() bool {
		p, _ := pods.Get(ctx, "web-a", metav1.GetOptions{})
		return p != nil && p.Annotations[AnnotationUsageCPU] == "2m"
	})

	// Deleting a pod stops its replica.
	if err := pods.Delete(ctx, "web-a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// The simulator takes the endpoint out first (under its lock), then
	// stops the replica: wait for both.
	stoppedLog := func() string {
		log.mu.Lock()
		defer log.mu.Unlock()
		return strings.Join(log.stopped, ",")
	}
	waitUntil(t, "web-a's replica to stop", func() bool { return len(sim.Endpoints()) == 1 && stoppedLog() != "" })
	if stopped := stoppedLog(); stopped != "web-a" {
		t.Errorf("stopped replicas %q, want web-a", stopped)
	}
	if s := sim.Served(); s["web-a"] != 5 {
		t.Errorf("a deleted pod's served count must be kept: %v", s)
	}
	if errs := sim.Errors(); len(errs) > 0 {
		t.Errorf("simulator errors: %v", errs)
	}

	if err := sim.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sim.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	if len(log.stopped) != len(log.started) {
		t.Errorf("started %v, stopped %v: Close must stop every replica", log.started, log.stopped)
	}
}

func TestSimulatorHandlerAnswers503WithoutReplicas(t *testing.T) {
	c := fakeCluster()
	w := &Workload{Spec: WorkloadSpec{Name: "web"}, Namespace: "lab", Labels: map[string]string{LabelWorkload: "web"}, c: c}
	var log replicaLog
	sim, err := Simulate(context.Background(), w, log.factory)
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	rec := httptest.NewRecorder()
	sim.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "http://web/", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "no running replica") {
		t.Errorf("got %d %q", rec.Code, rec.Body.String())
	}
	_, err = sim.RoundTripper().RoundTrip(httptest.NewRequest("GET", "http://web/", nil))
	if !errors.Is(err, ErrNoReplicas) {
		t.Errorf("RoundTrip error %v, want ErrNoReplicas", err)
	}
}

func TestSimulatorRefusesNonLoopbackReplicas(t *testing.T) {
	ctx := context.Background()
	c := fakeCluster()
	w := &Workload{Spec: WorkloadSpec{Name: "web"}, Namespace: "lab", Labels: map[string]string{"app": "web", LabelWorkload: "web"}, c: c}
	p := simPod("web-a", corev1.PodRunning)
	if _, err := c.Client.CoreV1().Pods("lab").Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	stopped := make(chan struct{}, 1)
	sim, err := Simulate(ctx, w, func(context.Context, string) (string, func() error, error) {
		return "http://192.0.2.10:80", func() error { stopped <- struct{}{}; return nil }, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	waitUntil(t, "the refusal", func() bool { return len(sim.Errors()) > 0 })
	if !strings.Contains(sim.Errors()[0].Error(), "not on loopback") {
		t.Errorf("error %v", sim.Errors()[0])
	}
	<-stopped // the refused replica was stopped, not leaked
	if len(sim.Endpoints()) != 0 {
		t.Errorf("endpoints %v", sim.Endpoints())
	}
}

func TestSimulatorStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	c := fakeCluster()
	w := &Workload{Spec: WorkloadSpec{Name: "web"}, Namespace: "lab", Labels: map[string]string{"app": "web", LabelWorkload: "web"}, c: c}
	if _, err := c.Client.CoreV1().Pods("lab").Create(ctx, simPod("web-a", corev1.PodRunning), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var log replicaLog
	sim, err := Simulate(ctx, w, log.factory)
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a replica", func() bool { return len(sim.Endpoints()) == 1 })
	cancel()
	waitUntil(t, "the replica to stop", func() bool { log.mu.Lock(); defer log.mu.Unlock(); return len(log.stopped) == 1 })
	_ = sim.Close()
}
