// Package lb is the lab's stand-in for an F5 or Cloudflare hop in front of
// the gateway: a reverse proxy to one loopback backend that can drop the
// Authorization header (the incident: the LB eats it and Kong answers 401),
// rewrite Host and set X-Forwarded-For / X-Forwarded-Proto. Its policy is
// changed at run time through GET/PUT /__chaoslab/lb, so the lab applies the
// fix ("the LB preserves the header") the same way on every backend.
package lb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chaoslab/chaoslab/fakes"
	"github.com/chaoslab/chaoslab/internal/loopback"
)

// ControlPath is the one path the hop answers itself; everything else,
// other /__chaoslab/ paths included, goes to the backend.
const ControlPath = "/__chaoslab/lb"

// Server is a running load balancer.
type Server struct {
	url     string
	ln      net.Listener
	srv     *http.Server
	backend *url.URL
	tr      *http.Transport
	proxy   *httputil.ReverseProxy
	rr      *roundRobin // nil with one backend
	policy  atomic.Pointer[Policy]
	dialer  *net.Dialer
	raw     rawPool // the re-framing engine's connections (reframe.go)
	extra   extraCounters

	// Counters: requests proxied (control calls excluded), how many carried
	// an Authorization header, how many of those had it stripped, and how
	// many got no answer from the backend (502 from the hop).
	requests, authSeen, authStripped, backendErrors atomic.Int64

	stdout, stderr *lockedWriter
	cancel         context.CancelFunc // cancels every request, hijacked ones too
	handlers       sync.WaitGroup
	closeOnce      sync.Once
	closeErr       error
}

type policyKey struct{}

// Start listens and serves; the hop is ready when Start returns.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	p := cfg.policy()
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("lb: %w", err)
	}
	backend, err := parseBackend(cfg.Backend, cfg.AllowNonLoopback)
	if err != nil {
		return nil, fmt.Errorf("lb: %w", err)
	}
	listen := cfg.Listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("lb: --listen %s: %w", listen, err)
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second, Control: loopback.Control}
	if cfg.AllowNonLoopback {
		dialer.Control = nil
	}
	s := &Server{
		url: "http://" + ln.Addr().String(), ln: ln, backend: backend, dialer: dialer,
		stdout: &lockedWriter{w: fakes.Stdout(ctx)}, stderr: &lockedWriter{w: fakes.Stderr(ctx)},
		tr: &http.Transport{
			Proxy:       nil, // never an environment proxy: the backend is on loopback
			DialContext: dialer.DialContext,
			// A load test through the hop reuses connections like a real LB
			// pool instead of churning through ports at a few hundred rps.
			MaxIdleConns:          1000,
			MaxIdleConnsPerHost:   1000,
			IdleConnTimeout:       30 * time.Second,
			ResponseHeaderTimeout: 0, // the backend's slowness is what scenarios measure
		},
	}
	s.policy.Store(&p)
	// retry.go picks the engine (pooled or re-framing) and retries; with
	// several backends the round robin picks the node first.
	var transport http.RoundTripper = roundTripFunc(s.roundTrip)
	if s.rr, err = newRoundRobin(backend, cfg.Backends, cfg.AllowNonLoopback, transport); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("lb: %w", err)
	} else if s.rr != nil {
		transport = s.rr
	}
	s.proxy = &httputil.ReverseProxy{
		// Rewrite, not Director: with Rewrite the proxy removes the client's
		// forwarding headers and adds none of its own, so the XFF and XFP
		// modes alone decide what the backend sees.
		Rewrite:      s.rewrite,
		Transport:    transport,
		ErrorHandler: s.backendError,
	}
	base, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// URL is the hop's base URL (http://127.0.0.1:PORT).
func (s *Server) URL() string { return s.url }

// Addr is host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Backend is where the hop forwards.
func (s *Server) Backend() string { return s.backend.String() }

// Info is the start-up report (fakes.Server).
func (s *Server) Info() map[string]string {
	p := s.Policy()
	return map[string]string{
		"backend":             s.backend.String(),
		"strip-authorization": fmt.Sprint(p.StripAuthorization),
		"control":             s.url + ControlPath,
	}
}

// Close stops the hop, aborting requests in flight, and waits for its
// handlers. Idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		// Connections first, so no handler can answer in between; then the
		// requests' context, which ends hijacked (upgraded) ones as well.
		err := s.srv.Close()
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.cancel()
		s.handlers.Wait()
		s.tr.CloseIdleConnections()
		s.raw.closeIdle()
		s.closeErr = err
	})
	return s.closeErr
}

// Policy is the policy in force.
func (s *Server) Policy() Policy { return *s.policy.Load() }

// SetPolicy replaces the whole policy; requests already in flight keep the
// one they started with.
func (s *Server) SetPolicy(p Policy) error {
	if err := p.Validate(); err != nil {
		return err
	}
	p = p.withDefaults()
	s.policy.Store(&p)
	return nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handlers.Add(1)
	defer s.handlers.Done()
	if r.URL.Path == ControlPath {
		s.control(w, r)
		return
	}
	s.requests.Add(1)
	// One policy per request, read once: Rewrite and the log line agree even
	// if the control API changes it meanwhile.
	p := s.policy.Load()
	auth := "absent"
	if _, ok := r.Header["Authorization"]; ok {
		s.authSeen.Add(1)
		auth = "kept"
		if p.StripAuthorization {
			s.authStripped.Add(1)
			auth = "stripped"
		}
	}
	sw := &statusWriter{ResponseWriter: w}
	defer func() { // deferred: aborted requests are logged too
		fmt.Fprintf(s.stdout, "lb: %s %q %d authorization=%s\n", r.RemoteAddr, r.Method+" "+r.URL.RequestURI()+" "+r.Proto, sw.code(), auth)
	}()
	s.proxy.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), policyKey{}, p)))
}

func (s *Server) backendError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		// The client went away or the hop is closing. Returning would let
		// net/http send an empty 200; abort the connection instead.
		panic(http.ErrAbortHandler)
	}
	s.backendErrors.Add(1)
	fmt.Fprintf(s.stderr, "lb: backend %s: %v\n", s.backend, err)
	if errors.Is(err, errTriesTimedOut) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusGatewayTimeout)
		_, _ = io.WriteString(w, "lb: backend timed out\n")
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusBadGateway)
	_, _ = io.WriteString(w, "lb: backend unavailable\n")
}

// statusWriter remembers the status for the log line. Unwrap lets the
// proxy reach Flush and Hijack (protocol upgrades) through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) code() int {
	if w.status == 0 {
		return 499 // nothing written: the client or the hop gave up first
	}
	return w.status
}

// lockedWriter serialises log lines from concurrent handlers (the embedded
// backend hands every fake a plain buffer).
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
