package scenarios

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/chaoslab/chaoslab/fakes/upstream"
	"github.com/chaoslab/chaoslab/lab/cluster/autoscale"
)

// replicaModel is how one simulated pod of the autoscaling family serves, and
// what that costs in CPU. kwok pods run no container, so the lab plays each
// Running pod with a server on loopback (autoscale.Simulate) built from this model:
//
//   - the fake upstream answers every request after Service (its latency);
//   - in front of it a gate admits Workers requests at a time; the rest wait in
//     line (first come, roughly first served) until a worker is free.
//
// So one replica serves at most Workers/Service requests per second. Below
// that its latency is Service; above it the line grows for as long as the
// overload lasts and latency with it: the slow, still-succeeding pod an SRE
// sees before the autoscaler catches up. A request whose client gives up
// leaves the line.
//
// CPU usage is modelled, not measured: every request the replica answers
// costs CPUCost millicore-seconds (autoscale.UsageMillicores), so a saturated
// replica uses Capacity × CPUCost millicores. The simulator writes that to the
// pod's kwok usage annotation every second and the real metrics-server and
// HPA controller take it from there.
type replicaModel struct {
	Workers int
	Service time.Duration
	CPUCost float64 // millicore-seconds per answered request
}

// webReplica is the model every autoscaling scenario uses: 2 workers × 50 ms
// is 40 requests/s per replica; 5 millicore-seconds per request is 200m when
// saturated, i.e. 10 requests/s is 50m, half of a 100m CPU request.
var webReplica = replicaModel{Workers: 2, Service: 50 * time.Millisecond, CPUCost: 5}

// Capacity is the most requests per second one replica answers.
func (m replicaModel) Capacity() float64 { return float64(m.Workers) / m.Service.Seconds() }

// Millicores is the CPU a replica answering rate requests/s uses (at most
// its capacity).
func (m replicaModel) Millicores(rate float64) float64 { return min(rate, m.Capacity()) * m.CPUCost }

// String says the model in one line for the report.
func (m replicaModel) String() string {
	return fmt.Sprintf("%d workers × %s per request = %.0f requests/s per replica; %g millicore-seconds per request",
		m.Workers, m.Service, m.Capacity(), m.CPUCost)
}

// factory plays each pod with startReplica.
func (m replicaModel) factory() autoscale.ReplicaFactory {
	return func(ctx context.Context, pod string) (string, func() error, error) {
		r, err := m.startReplica(ctx, pod)
		if err != nil {
			return "", nil, err
		}
		return r.URL(), r.Close, nil
	}
}

// replicaServer is one simulated pod: the gate on its own loopback listener,
// and the fake upstream behind it.
type replicaServer struct {
	up    *upstream.Server
	srv   *http.Server
	ln    net.Listener
	tr    *http.Transport
	slots chan struct{}
	url   string
	done  chan struct{}
}

func (m replicaModel) startReplica(ctx context.Context, pod string) (*replicaServer, error) {
	if m.Workers < 1 || m.Service <= 0 {
		return nil, fmt.Errorf("replica model: need at least one worker and a positive service time, got %d and %s", m.Workers, m.Service)
	}
	up, err := upstream.Start(ctx, upstream.Config{Name: pod, Default: upstream.Behaviour{Latency: m.Service}})
	if err != nil {
		return nil, err
	}
	target, err := url.Parse(up.URL())
	if err != nil {
		_ = up.Close()
		return nil, err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		_ = up.Close()
		return nil, fmt.Errorf("replica %s: %w", pod, err)
	}
	r := &replicaServer{up: up, ln: ln, slots: make(chan struct{}, m.Workers), url: "http://" + ln.Addr().String(), done: make(chan struct{}),
		tr: &http.Transport{MaxIdleConnsPerHost: m.Workers * 2, IdleConnTimeout: 30 * time.Second}}
	proxy := &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(target); pr.Out.Host = pr.In.Host },
		Transport: r.tr,
		// A request aborted by its client is the client's business, not a log line.
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, err.Error(), http.StatusBadGateway)
		},
	}
	r.srv = &http.Server{Handler: r.gate(proxy), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(r.done)
		_ = r.srv.Serve(ln)
	}()
	return r, nil
}

// gate admits len(slots) requests at a time into next; the others wait.
func (r *replicaServer) gate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		select {
		case r.slots <- struct{}{}:
		case <-req.Context().Done():
			return
		}
		defer func() { <-r.slots }()
		next.ServeHTTP(w, req)
	})
}

// URL is the replica's base URL (loopback).
func (r *replicaServer) URL() string { return r.url }

// Close stops the gate, its connections to the upstream and the upstream.
func (r *replicaServer) Close() error {
	err := r.srv.Close()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	<-r.done
	r.tr.CloseIdleConnections()
	return errors.Join(err, r.up.Close())
}
