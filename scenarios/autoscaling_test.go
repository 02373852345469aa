package scenarios

import (
	"context"
	"io"
	"k8s.io/apimachinery/pkg/api/resource"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	. "github.com/chaoslab/chaoslab/assertions"
	"github.com/chaoslab/chaoslab/lab/cluster"
	"github.com/chaoslab/chaoslab/lab/cluster/autoscale"
	"github.com/chaoslab/chaoslab/load"
	"github.com/chaoslab/chaoslab/reports"
)

// getTimed sends one GET and returns its latency and X-Upstream-Name.
func getTimed(ctx context.Context, t *testing.T, url string) (time.Duration, string, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return time.Since(t0), "", err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status %d", resp.StatusCode)
	}
	return time.Since(t0), resp.Header.Get("X-Upstream-Name"), nil
}

// concurrent sends n requests at once and returns their latencies.
func concurrent(t *testing.T, url string, n int) []time.Duration {
	t.Helper()
	out := make([]time.Duration, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, _, err := getTimed(context.Background(), t, url)
			if err != nil {
				t.Error(err)
			}
			out[i] = d
		}()
	}
	wg.Wait()
	return out
}

func maxOf(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}

// The replica model: Workers requests are served at once, the rest wait in
// line, so n concurrent requests take about ceil(n/Workers) service times.
// Only lower bounds on time are asserted (a sleep is never shorter); the
// upper bound is an order of magnitude.
func TestReplicaModelQueuesBeyondItsWorkers(t *testing.T) {
	m := replicaModel{Workers: 2, Service: 40 * time.Millisecond, CPUCost: 5}
	r, err := m.startReplica(context.Background(), "web-0")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !strings.HasPrefix(r.URL(), "http://127.0.0.1:") {
		t.Fatalf("replica URL %s is not on loopback", r.URL())
	}
	if _, name, err := getTimed(context.Background(), t, r.URL()+"/"); err != nil || name != "web-0" {
		t.Fatalf("X-Upstream-Name %q (err %v), want the pod's name", name, err)
	}

	within := maxOf(concurrent(t, r.URL()+"/", 2))
	beyond := maxOf(concurrent(t, r.URL()+"/", 6)) // 3 rounds of 2
	if within < m.Service {
		t.Errorf("2 requests on 2 workers took %v, less than the %v service time", within, m.Service)
	}
	if beyond < 3*m.Service {
		t.Errorf("6 requests on 2 workers: the last took %v, want >= 3 service times (%v): they did not queue", beyond, 3*m.Service)
	}
	if within > 10*m.Service {
		t.Errorf("2 requests on 2 workers took %v: queued although a worker was free", within)
	}
	if got := m.Capacity(); got != 50 {
		t.Errorf("Capacity = %v, want 2 / 40ms = 50 requests/s", got)
	}
	if got := m.Millicores(80); got != 250 {
		t.Errorf("Millicores(80/s) = %v, want capacity 50/s × 5 = 250 (a saturated replica answers no faster)", got)
	}
}

// A client that gives up leaves the line: it does not hold a worker.
func TestReplicaModelClientGivesUp(t *testing.T) {
	m := replicaModel{Workers: 1, Service: 150 * time.Millisecond}
	r, err := m.startReplica(context.Background(), "web-0")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	first := make(chan struct{})
	go func() {
		defer close(first)
		_, _, _ = getTimed(context.Background(), t, r.URL()+"/")
	}()
	time.Sleep(20 * time.Millisecond) // let the first take the worker
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	if _, _, err := getTimed(ctx, t, r.URL()+"/"); err == nil {
		t.Error("a request waiting behind a busy worker answered within 20 ms")
	}
	cancel()
	<-first
	d, _, err := getTimed(context.Background(), t, r.URL()+"/")
	if err != nil {
		t.Fatal(err)
	}
	if d > 10*m.Service {
		t.Errorf("after the abandoned request, a lone request took %v: the abandoned one kept its place", d)
	}
}

func TestReplicaModelRefusesNoWorkers(t *testing.T) {
	if _, err := (replicaModel{Service: time.Millisecond}).startReplica(context.Background(), "x"); err == nil {
		t.Error("a model without workers started")
	}
}

func TestUntilPacerStopsOnFlag(t *testing.T) {
	var stop atomic.Bool
	p := untilPacer{Pacer: load.Constant(10), stop: &stop, why: "done"}
	wait, ended := p.Pace(0, 0)
	if ended {
		t.Fatal("ended before the flag was set")
	}
	if wait != 100*time.Millisecond {
		t.Errorf("first hit at 10/s after %v, want 100ms (the wrapped pacer's wait)", wait)
	}
	stop.Store(true)
	if _, ended := p.Pace(time.Second, 10); !ended {
		t.Error("did not end once the flag was set")
	}
	if got := p.String(); got != "constant 10/s until done" {
		t.Errorf("String() = %q", got)
	}
}

// Replica counts change in steps: the chart must not draw a ramp between
// two samples.
func TestStepSeries(t *testing.T) {
	t0 := time.Unix(100, 0)
	var pts []reports.Point
	pts = step(pts, t0, 1)
	pts = step(pts, t0.Add(time.Second), 1) // unchanged: no point
	pts = step(pts, t0.Add(2*time.Second), 4)
	pts = holdUntil(pts, t0.Add(5*time.Second))
	want := []reports.Point{{Time: t0, Value: 1}, {Time: t0.Add(2 * time.Second), Value: 1},
		{Time: t0.Add(2 * time.Second), Value: 4}, {Time: t0.Add(5 * time.Second), Value: 4}}
	if len(pts) != len(want) {
		t.Fatalf("got %v, want %v", pts, want)
	}
	for i := range want {
		if !pts[i].Time.Equal(want[i].Time) || pts[i].Value != want[i].Value {
			t.Errorf("point %d: got %v, want %v", i, pts[i], want[i])
		}
	}
}

func kwokNode(name, ip string, port int32) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{annotationResourceMetricsPath: "/metrics/nodes/" + name + "/metrics/resource"}},
		Status: corev1.NodeStatus{
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: port}},
			Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}},
		},
	}
}

func TestResourceMetricsURL(t *testing.T) {
	if u, ok := resourceMetricsURL(kwokNode("node-1", "127.0.0.1", 10250)); !ok || u != "https://127.0.0.1:10250/metrics/nodes/node-1/metrics/resource" {
		t.Errorf("loopback kwok node: %q %v", u, ok)
	}
	if u, ok := resourceMetricsURL(kwokNode("node-1", "10.1.2.3", 10250)); ok {
		t.Errorf("a node beyond loopback would be read: %q", u)
	}
	n := kwokNode("node-1", "127.0.0.1", 10250)
	delete(n.Annotations, annotationResourceMetricsPath)
	if _, ok := resourceMetricsURL(n); ok {
		t.Error("a node without the metrics path annotation would be read")
	}
}

// The kubelet clock reads every loopback node's resource metrics until
// closed, and does nothing on a cluster with real kubelets.
func TestKubeletClockReadsNodes(t *testing.T) {
	var reads atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics/nodes/node-1/metrics/resource" {
			reads.Add(1)
		}
		_, _ = io.WriteString(w, "node_cpu_usage_seconds_total 1\n")
	}))
	defer srv.Close()
	port := int32(srv.Listener.Addr().(*net.TCPAddr).Port)
	c := &cluster.Cluster{Provider: "kwok", Client: fake.NewClientset(kwokNode("node-1", "127.0.0.1", port))}

	k := startKubeletClock(context.Background(), c, 10*time.Millisecond)
	deadline := time.Now().Add(5 * time.Second)
	for reads.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	if n := reads.Load(); n < 3 {
		t.Fatalf("%d reads in 5 s at a 10 ms interval; errors %v", n, k.errs)
	}
	// A read sent just before Close may reach the server after it (the
	// clock cancels it, the server still counts it): let those land, then a
	// clock still ticking every 10 ms would read about 20 more times.
	time.Sleep(200 * time.Millisecond)
	after := reads.Load()
	time.Sleep(200 * time.Millisecond)
	if n := reads.Load() - after; n != 0 {
		t.Errorf("%d reads after Close (and after the last one in flight had landed)", n)
	}
	if len(k.errs) > 0 {
		t.Errorf("errors: %v", k.errs)
	}

	if k := startKubeletClock(context.Background(), &cluster.Cluster{Provider: "kind"}, time.Millisecond); k != nil {
		t.Error("a kubelet clock started on a cluster with real kubelets")
	}
	var none *kubeletClock
	if err := none.Close(); err != nil {
		t.Error(err)
	}
}

func TestBeText(t *testing.T) {
	m := beText("<none>")
	if ok, _ := m.Match("<none>"); !ok {
		t.Error("equal texts do not match")
	}
	if ok, _ := m.Match("100m"); ok {
		t.Error("different texts match")
	}
	if _, err := m.Match(3); err == nil {
		t.Error("a non-string matched without an error")
	}
	if got := m.FailureMessage("100m"); got != `expected "<none>", got "100m"` {
		t.Errorf("FailureMessage = %q", got)
	}
}

// On node, kind and existing clusters the family runs real pods: the model's
// workers and service time, its CPU per request (less the measured overhead),
// under a limit that a saturated pod does not reach.
func TestRealPodSpecFollowsTheModel(t *testing.T) {
	spec := realPodSpec(autoscale.WorkloadSpec{Name: asWorkload, CPURequest: asCPURequest}, webReplica)
	if spec.CPUPerRequest != 5*time.Millisecond-realRequestOverhead || spec.Workers != webReplica.Workers ||
		spec.Latency != webReplica.Service || spec.CPULimit != "400m" {
		t.Errorf("real pod spec %+v", spec)
	}
	// Saturated (every worker busy) the pod uses less than its limit, so its
	// capacity is its workers', not the CFS quota's.
	perRequest := float64(spec.CPUPerRequest+realRequestOverhead) / float64(time.Millisecond)
	q := resource.MustParse(spec.CPULimit)
	limit := float64(q.MilliValue())
	if saturated := webReplica.Capacity() * perRequest; saturated > limit/1.5 {
		t.Errorf("a saturated real pod uses %.0fm of its %s limit: the limit would bind", saturated, spec.CPULimit)
	}
	if !(&cluster.Cluster{Provider: "kind"}).RealPods() || (&cluster.Cluster{Provider: "kwok"}).RealPods() {
		t.Error("kind runs real pods, kwok simulated ones")
	}
}

// spanPlay overloads one replica for half a second, then sends a trickle
// across a second phase until the replica's queue has drained; failMidway
// fails the scenario with the load still on instead.
type spanPlay struct {
	x          *asLab
	failMidway bool
	drainedIn  *time.Duration
}

func (p *spanPlay) Setup(s *S) {
	m := replicaModel{Workers: 1, Service: 20 * time.Millisecond} // 50 requests/s
	r, err := m.startReplica(s.Ctx, "web-0")
	s.Must(err, "replica")
	s.Lab.OnClose("replica", r.Close)
	p.x = &asLab{svc: r.URL()}
}

func (p *spanPlay) Run(s *S) {
	var l *spanLoad
	s.Phase("fault", "overload", func() {
		l = p.x.startLoad(s, "spike", load.Steps(load.Step{For: 500 * time.Millisecond, Rate: 100}, load.Step{Rate: 10}), "drained")
		s.Eventually("answers", 5*time.Second, 10*time.Millisecond, func() error {
			if len(l.soFar()) == 0 {
				return context.DeadlineExceeded
			}
			return nil
		})
		if p.failMidway {
			s.Failf("failing with the spike on")
		}
		s.Sleep(600 * time.Millisecond) // through the overload: a queue has built
	})
	s.Phase("recovery", "the queue drains", func() {
		t0 := time.Now()
		p.x.eventually(s, "drained", 10*time.Second, func() bool { return l.drained(3 * 20 * time.Millisecond) })
		*p.drainedIn = time.Since(t0)
		rs := l.end(s)
		s.Expect(rs, "the spike queued").To(HaveLatencyQuantile(0.99, ">", 100*time.Millisecond))
	})
}

func TestSpanLoadAcrossPhases(t *testing.T) {
	var drainedIn time.Duration
	res := Execute(context.Background(), Scenario{ID: "t/span", Symptom: "x", New: func() Play { return &spanPlay{drainedIn: &drainedIn} }},
		Options{Dir: t.TempDir()})
	if res.Verdict != reports.Passed {
		t.Fatalf("%s: %s at %s", res.Verdict, res.Reason, res.Location)
	}
	fault, recovery := res.Phases[1], res.Phases[2]
	if len(fault.Loads) != 0 || len(recovery.Loads) != 1 {
		t.Fatalf("the load should be recorded once, where it ended: fault %d, recovery %d loads", len(fault.Loads), len(recovery.Loads))
	}
	// 0.5 s at twice the capacity queued about 25 requests (0.5 s of work):
	// slow answers keep arriving for a while after the overload.
	if l := recovery.Loads[0]; l.Requests < 40 || l.Outcomes["200"] != l.Requests {
		t.Errorf("spike load: %d requests, outcomes %v", l.Requests, l.Outcomes)
	}
	// Queued answers arrive until about 1.1 s after the start and must then
	// age out of the last second: drained cannot hold before ~2 s, 1.4 s
	// after the recovery phase began.
	if drainedIn < 500*time.Millisecond {
		t.Errorf("drained %v after the overload: too soon for a queue of about 25 requests", drainedIn)
	}
}

// A failure with the load on stops it before the lab closes: no attack and
// no vegeta worker outlives the scenario (goleak in TestMain).
func TestSpanLoadStopsOnFailure(t *testing.T) {
	var drainedIn time.Duration
	res := Execute(context.Background(), Scenario{ID: "t/span-fail", Symptom: "x", New: func() Play { return &spanPlay{failMidway: true, drainedIn: &drainedIn} }},
		Options{Dir: t.TempDir()})
	if res.Verdict != reports.Failed || !strings.Contains(res.Reason, "failing with the spike on") {
		t.Fatalf("%s: %s", res.Verdict, res.Reason)
	}
}

// stallPlay sends to a server that answers three requests in four at once
// and holds every fourth until released: the fast answers alone would look
// like a drained queue, the held requests must not.
type stallPlay struct {
	x       *asLab
	release chan struct{}
	held    atomic.Int64
	before  bool // drained, with requests held
	after   time.Duration
}

func (p *stallPlay) Setup(s *S) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%4 == 0 {
			p.held.Add(1)
			select {
			case <-p.release:
			case <-r.Context().Done():
			}
		}
	}))
	s.Lab.OnClose("server", func() error { srv.Close(); return nil })
	p.x = &asLab{svc: srv.URL}
}

func (p *stallPlay) Run(s *S) {
	s.Phase("fault", "every fourth request held", func() {
		l := p.x.startLoad(s, "load", load.Constant(40), "released")
		s.Sleep(1500 * time.Millisecond)
		p.before = l.drained(60 * time.Millisecond)
		close(p.release)
		t0 := time.Now()
		p.x.eventually(s, "drained", 10*time.Second, func() bool { return l.drained(60 * time.Millisecond) })
		p.after = time.Since(t0)
		l.end(s)
	})
}

// drained looks at the requests still waiting, not only at the answers: a
// replica sharing its CPU among a backlog answers none of it for a while
// (CI caught pending-pods on a real pod judging "drained" from the other
// replicas' fast answers, then measuring the backlog: p95 2.3 s).
func TestSpanLoadDrainedSeesRequestsStillWaiting(t *testing.T) {
	p := &stallPlay{release: make(chan struct{})}
	res := Execute(context.Background(), Scenario{ID: "t/stall", Symptom: "x", New: func() Play { return p }}, Options{Dir: t.TempDir()})
	if res.Verdict != reports.Passed {
		t.Fatalf("%s: %s at %s", res.Verdict, res.Reason, res.Location)
	}
	if p.held.Load() < 5 {
		t.Fatalf("only %d requests held: the test did not build a backlog", p.held.Load())
	}
	if p.before {
		t.Errorf("drained with %d requests held for up to 1.5 s", p.held.Load())
	}
	// The held answers arrive at the release with latencies up to 1.5 s and
	// must age out of the last second first.
	if p.after < 900*time.Millisecond {
		t.Errorf("drained %v after the release: the held answers were still in the last second", p.after)
	}
}
