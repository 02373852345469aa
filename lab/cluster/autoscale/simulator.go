package autoscale

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/chaoslab/chaoslab/lab/cluster"
)

// ReplicaFactory starts the server that plays one pod and returns its base URL
// (loopback only) and a stop func. The lab plugs in its fakes or upstreams.
type ReplicaFactory func(ctx context.Context, pod string) (url string, stop func() error, err error)

// ErrNoReplicas is returned (as a 503 by Handler) when no pod is Running.
var ErrNoReplicas = errors.New("no running replica")

// SimOption tunes a Simulator.
type SimOption func(*Simulator)

// WithUsageInterval sets how often each pod's usage annotation is written
// (default 1 s).
func WithUsageInterval(d time.Duration) SimOption { return func(s *Simulator) { s.interval = d } }

// WithIdleCPU sets the usage of a replica serving nothing, in millicores
// (default 1, kwok's own default for a pod without the annotation). It must be
// positive: metrics-server drops a container whose cumulative CPU is exactly 0,
// and the HPA then reports "no metrics returned from resource metrics API".
func WithIdleCPU(millicores int64) SimOption { return func(s *Simulator) { s.idle = millicores } }

// Simulator makes a simulated workload real enough for the autoscaler (and
// routes to real pods where the cluster runs them: pods on a real node get
// their requests at their pod IP, their CPU is the kubelet's to measure): every
// Running pod gets a replica server, requests are spread over Running pods,
// and each pod's CPU usage (kwok.x-k8s.io/usage-cpu) is written every interval
// as idle + UsageMillicores(requests served in the interval). kwok integrates
// it into the cumulative CPU counter it serves as the node's /metrics/resource,
// metrics-server turns that back into a rate over its 10 s resolution, and the
// real HPA controller acts on it.
type Simulator struct {
	c        *cluster.Cluster
	w        *Workload
	factory  ReplicaFactory
	interval time.Duration
	idle     int64

	ctx     context.Context
	cancel  context.CancelFunc
	stopCtx func() bool
	wg      sync.WaitGroup
	kick    chan struct{}
	tr      *http.Transport

	mu       sync.Mutex
	replicas map[string]*replica // by pod name
	served   map[string]int64    // by pod name, including stopped replicas
	samples  []UsageSample
	errs     []error
	next     atomic.Uint64
	closed   bool
}

type replica struct {
	pod      string
	uid      types.UID
	target   *url.URL
	stop     func() error
	served   atomic.Int64
	lastSeen int64
	lastAt   time.Time
	lastCPU  string
	rt       http.RoundTripper // a real pod's transport (nil: s.tr)
	real     bool              // a real pod: its CPU is measured, not written
}

// UsageSample is one write of a pod's usage annotation.
type UsageSample struct {
	At        time.Time
	Pod       string
	Rate      float64 // served requests per second over the interval
	Millicore int64
}

// Simulate starts a Simulator for w. Close stops it and every replica; it also
// stops when ctx ends.
func Simulate(ctx context.Context, w *Workload, factory ReplicaFactory, opts ...SimOption) (*Simulator, error) {
	c := w.c
	if factory == nil {
		return nil, errors.New("simulate: nil ReplicaFactory")
	}
	s := &Simulator{
		c: c, w: w, factory: factory, interval: time.Second, idle: 1,
		kick:     make(chan struct{}, 1),
		replicas: map[string]*replica{},
		served:   map[string]int64{},
		tr:       &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second},
	}
	for _, o := range opts {
		o(s)
	}
	if s.interval <= 0 {
		return nil, fmt.Errorf("simulate: usage interval must be positive, got %v", s.interval)
	}
	if s.idle <= 0 {
		return nil, fmt.Errorf("simulate: idle CPU must be positive, got %dm", s.idle)
	}
	s.ctx, s.cancel = context.WithCancel(ctx)

	factoryInf := informers.NewSharedInformerFactoryWithOptions(c.Client, 0,
		informers.WithNamespace(w.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = w.Selector().String() }))
	pods := factoryInf.Core().V1().Pods()
	kick := func(any) { s.poke() }
	if _, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: kick, UpdateFunc: func(any, any) { s.poke() }, DeleteFunc: kick,
	}); err != nil {
		s.cancel()
		return nil, err
	}
	factoryInf.Start(s.ctx.Done())
	if !cache.WaitForCacheSync(s.ctx.Done(), pods.Informer().HasSynced) {
		s.cancel()
		factoryInf.Shutdown()
		return nil, fmt.Errorf("simulate %s: pod informer did not sync: %w", w.Spec.Name, ctx.Err())
	}
	lister := pods.Lister()

	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer factoryInf.Shutdown()
		tick := time.NewTicker(s.interval)
		defer tick.Stop()
		for {
			select {
			case <-s.ctx.Done():
				return
			case <-s.kick:
				podList, _ := lister.List(w.Selector())
				s.reconcile(podList)
			case <-tick.C:
				podList, _ := lister.List(w.Selector())
				s.reconcile(podList) // also retries failed replica starts
				s.writeUsage()
			}
		}
	}()
	s.poke()
	stop := context.AfterFunc(ctx, func() { _ = s.Close() })
	s.mu.Lock()
	s.stopCtx = stop
	s.mu.Unlock()
	return s, nil
}

func (s *Simulator) poke() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *Simulator) reconcile(pods []*corev1.Pod) {
	want := map[string]*corev1.Pod{}
	for _, p := range pods {
		if s.c.Serving(p) {
			want[p.Name] = p
		}
	}
	s.mu.Lock()
	var stale []*replica
	for name, r := range s.replicas {
		if p, ok := want[name]; !ok || p.UID != r.uid {
			stale = append(stale, r)
			s.served[name] += r.served.Load()
			delete(s.replicas, name)
		}
	}
	var missing []*corev1.Pod
	for name, p := range want {
		if _, ok := s.replicas[name]; !ok {
			missing = append(missing, p)
		}
	}
	s.mu.Unlock()

	for _, r := range stale {
		if err := r.stop(); err != nil {
			s.recordErr(fmt.Errorf("stop replica %s: %w", r.pod, err))
		}
	}
	for _, p := range missing {
		if !s.c.SimulatedNode(p.Spec.NodeName) {
			target, rt, err := s.c.PodTarget(p, s.w.Spec.Port)
			if err != nil {
				s.recordErr(fmt.Errorf("pod %s: %w", p.Name, err))
				continue
			}
			s.mu.Lock()
			if !s.closed {
				s.replicas[p.Name] = &replica{pod: p.Name, uid: p.UID, target: target, stop: func() error { return nil }, rt: rt, real: true, lastAt: time.Now()}
			}
			s.mu.Unlock()
			continue
		}
		raw, stop, err := s.factory(s.ctx, p.Name)
		if err != nil {
			s.recordErr(fmt.Errorf("start replica %s: %w", p.Name, err))
			continue
		}
		target, err := loopbackURL(raw)
		if err != nil {
			_ = stop()
			s.recordErr(fmt.Errorf("replica %s: %w", p.Name, err))
			continue
		}
		r := &replica{pod: p.Name, uid: p.UID, target: target, stop: stop, lastAt: time.Now()}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = stop()
			return
		}
		s.replicas[p.Name] = r
		s.mu.Unlock()
	}
}

// loopbackURL refuses replica URLs beyond loopback: the lab never sends
// traffic anywhere else.
func loopbackURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	host := u.Hostname()
	if host == "localhost" {
		return u, nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return u, nil
	}
	return nil, fmt.Errorf("replica URL %q is not on loopback", raw)
}

// writeUsage turns each replica's served requests since the last write into
// its CPU usage annotation.
func (s *Simulator) writeUsage() {
	now := time.Now()
	type write struct {
		pod, cpu string
	}
	var writes []write
	s.mu.Lock()
	for _, r := range s.replicas {
		if r.real {
			continue // the kubelet measures its CPU
		}
		n := r.served.Load()
		elapsed := now.Sub(r.lastAt)
		m := s.idle + UsageMillicores(n-r.lastSeen, elapsed, s.w.Spec.CPUCostPerRequest)
		s.samples = append(s.samples, UsageSample{At: now, Pod: r.pod, Rate: float64(n-r.lastSeen) / elapsed.Seconds(), Millicore: m})
		r.lastSeen, r.lastAt = n, now
		if cpu := FormatMillicores(m); cpu != r.lastCPU {
			writes = append(writes, write{r.pod, cpu})
			r.lastCPU = cpu
		}
	}
	s.mu.Unlock()
	for _, wr := range writes {
		patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, AnnotationUsageCPU, wr.cpu)
		_, err := s.c.Client.CoreV1().Pods(s.w.Namespace).Patch(s.ctx, wr.pod, types.MergePatchType, patch, metav1.PatchOptions{})
		if err != nil && s.ctx.Err() == nil {
			s.recordErr(fmt.Errorf("usage of %s: %w", wr.pod, err))
		}
	}
}

func (s *Simulator) recordErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.errs) < 100 { // a flapping factory must not grow this forever
		s.errs = append(s.errs, err)
	}
}

// Errors are the replica start/stop and usage-write failures so far.
func (s *Simulator) Errors() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.errs...)
}

// Endpoints are the URLs of the replicas of Running pods, sorted by pod name.
func (s *Simulator) Endpoints() []string {
	rs := s.snapshot()
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.target.String()
	}
	return out
}

func (s *Simulator) snapshot() []*replica {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*replica, 0, len(s.replicas))
	for _, r := range s.replicas {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].pod < out[j].pod })
	return out
}

// Served is the number of requests each pod's replica has served (answered
// with any HTTP status), including pods that are gone.
func (s *Simulator) Served() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int64, len(s.served)+len(s.replicas))
	for k, v := range s.served {
		out[k] = v
	}
	for k, r := range s.replicas {
		out[k] += r.served.Load()
	}
	return out
}

// Usage is every usage write so far.
func (s *Simulator) Usage() []UsageSample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]UsageSample(nil), s.samples...)
}

// RoundTripper sends each request to the next Running replica (round robin),
// whatever host the request names, like a Service's virtual IP.
func (s *Simulator) RoundTripper() http.RoundTripper { return roundTripper{s} }

type roundTripper struct{ s *Simulator }

func (rt roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	rs := rt.s.snapshot()
	if len(rs) == 0 {
		return nil, fmt.Errorf("%s %s: %w of %s", req.Method, req.URL.Path, ErrNoReplicas, rt.s.w.Spec.Name)
	}
	r := rs[rt.s.next.Add(1)%uint64(len(rs))]
	out := req.Clone(req.Context())
	out.URL.Scheme, out.URL.Host = r.target.Scheme, r.target.Host
	out.URL.Path = singleJoin(r.target.Path, req.URL.Path)
	out.Host = ""
	tr := http.RoundTripper(rt.s.tr)
	if r.rt != nil {
		tr = r.rt
	}
	resp, err := tr.RoundTrip(out)
	if err == nil {
		r.served.Add(1)
	}
	return resp, err
}

// singleJoin puts the request path under the replica URL's path prefix.
func singleJoin(prefix, path string) string {
	prefix = strings.TrimSuffix(prefix, "/")
	if prefix == "" {
		return path
	}
	return prefix + "/" + strings.TrimPrefix(path, "/")
}

// Handler is a reverse proxy over RoundTripper: serve it on a loopback listener
// to give load generators one URL for the whole workload. With no Running
// replica it answers 503.
func (s *Simulator) Handler() http.Handler {
	return &httputil.ReverseProxy{
		Rewrite:   func(*httputil.ProxyRequest) {}, // RoundTripper picks the target
		Transport: s.RoundTripper(),
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			code := http.StatusBadGateway
			if errors.Is(err, ErrNoReplicas) {
				code = http.StatusServiceUnavailable
			}
			http.Error(w, err.Error(), code)
		},
	}
}

// Close stops the simulator and every replica it started. It is idempotent.
func (s *Simulator) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	stopCtx := s.stopCtx
	s.mu.Unlock()
	if stopCtx != nil {
		stopCtx()
	}
	s.cancel()
	s.wg.Wait()
	var errs []error
	s.mu.Lock()
	for name, r := range s.replicas {
		s.served[name] += r.served.Load()
		errs = append(errs, r.stop())
		delete(s.replicas, name)
	}
	s.mu.Unlock()
	s.tr.CloseIdleConnections()
	return errors.Join(errs...)
}
