// Package upstream is the lab's stand-in for the service behind a gateway: an
// HTTP or HTTPS server whose latency, status, body and failure mode are set
// per path, per request (query parameters) or at run time through a small
// control API, and which counts what it served.
package upstream

import (
	"github.com/chaoslab/chaoslab/fakes"

	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/chaoslab/chaoslab/fakes/pki"
)

// ControlPrefix is reserved for the control API; every other path is served
// with the configured behaviour.
const ControlPrefix = "/__chaoslab/"

// Config is the upstream's start-up configuration.
type Config struct {
	Name    string               // reported in X-Upstream-Name and the body
	Listen  string               // default 127.0.0.1:0
	Default Behaviour            // for paths without a rule
	Rules   map[string]Behaviour // path prefix -> behaviour; longest prefix wins
	TLS     *tls.Config          // serve HTTPS when set
	// TLSFlags builds a fresh lab CA hierarchy and certificate (as the CLI
	// flags --tls, --chain, --cert, --san, --client-auth say) when TLS is nil
	// and TLSFlags.Enabled; the files go to CertDir (default: a temp dir),
	// and are removed on Close.
	TLSFlags pki.ServerTLSFlags
	CertDir  string
	// ClientCertStatus, when set, reports how the TLS client authenticated
	// (absent/failed/success and the issuer) in the response.
	ClientCertStatus func(r *http.Request) (status, issuer string)
	Info             map[string]string // the start-up report besides the URL ("ca")
	// Require, when set, makes the upstream check a credential itself (auth.go).
	Require *Credential
}

// Stats is what the upstream served, by path and status.
type Stats struct {
	Requests int64            `json:"requests"`
	InFlight int64            `json:"in_flight"`
	ByPath   map[string]int64 `json:"by_path"`
	ByStatus map[string]int64 `json:"by_status"` // "200", "reset", "close", ...
}

// Server is a running upstream.
type Server struct {
	name   string
	url    string
	info   map[string]string
	srv    *http.Server
	ln     net.Listener
	tls    bool
	status func(*http.Request) (string, string)
	cred   *Credential

	mu    sync.RWMutex
	def   Behaviour
	rules map[string]Behaviour
	gates map[string]chan struct{} // "" (the default) or a rule's prefix -> its workers, when it has some

	requests, inflight atomic.Int64
	statsMu            sync.Mutex
	byPath, byStatus   map[string]int64

	hangMu sync.Mutex
	hangs  map[net.Conn]struct{}
	done   chan struct{}

	files func() error // removes the certificates written for --tls

	closeOnce sync.Once
	closeErr  error
}

// Start listens and serves; the server is ready when Start returns.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.Default.Validate(); err != nil {
		return nil, fmt.Errorf("upstream %s: %w", cfg.Name, err)
	}
	for p, b := range cfg.Rules {
		if err := b.Validate(); err != nil {
			return nil, fmt.Errorf("upstream %s: rule %q: %w", cfg.Name, p, err)
		}
	}
	var files func() error
	if cfg.TLS == nil && cfg.TLSFlags.Enabled {
		var err error
		if files, err = buildTLS(&cfg); err != nil {
			return nil, fmt.Errorf("upstream %s: %w", cfg.Name, err)
		}
	}
	listen := cfg.Listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", listen)
	if err != nil {
		if files != nil {
			_ = files()
		}
		return nil, fmt.Errorf("upstream %s: --listen %s: %w", cfg.Name, listen, err)
	}
	s := &Server{
		name: cfg.Name, ln: ln, info: cfg.Info, status: cfg.ClientCertStatus, cred: cfg.Require,
		def: cfg.Default, rules: map[string]Behaviour{}, gates: map[string]chan struct{}{},
		byPath: map[string]int64{}, byStatus: map[string]int64{},
		hangs: map[net.Conn]struct{}{}, done: make(chan struct{}), files: files,
	}
	s.setGate("", cfg.Default.Workers)
	for p, b := range cfg.Rules {
		s.rules[p] = b
		s.setGate(p, b.Workers)
	}
	scheme := "http"
	serveLn := ln
	if cfg.TLS != nil {
		scheme, s.tls = "https", true
		serveLn = tls.NewListener(ln, cfg.TLS)
	}
	s.url = scheme + "://" + ln.Addr().String()
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		// Handshake errors from clients that reject our certificate are the
		// point of several scenarios, not something to print.
		ErrorLog: nullLogger(),
	}
	go func() { _ = s.srv.Serve(serveLn) }()
	return s, nil
}

// URL is the base URL (http:// or https://) with the real port.
func (s *Server) URL() string { return s.url }

// Addr is host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Info is the start-up report (fakes.Server).
func (s *Server) Info() map[string]string { return s.info }

// Close stops the server, aborting requests in progress. Idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		s.hangMu.Lock()
		for c := range s.hangs {
			_ = c.Close()
		}
		s.hangMu.Unlock()
		err := s.srv.Close()
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		if s.files != nil {
			err = errors.Join(err, s.files())
		}
		s.closeErr = err
	})
	return s.closeErr
}

// SetDefault replaces the behaviour for paths without a rule.
func (s *Server) SetDefault(b Behaviour) error {
	if err := b.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	s.def = b
	s.setGate("", b.Workers)
	s.mu.Unlock()
	return nil
}

// SetRule sets the behaviour for a path prefix.
func (s *Server) SetRule(prefix string, b Behaviour) error {
	if err := b.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	s.rules[prefix] = b
	s.setGate(prefix, b.Workers)
	s.mu.Unlock()
	return nil
}

// setGate gives key (under s.mu) a line of n workers, or none for 0. An
// unchanged n keeps the line; requests admitted by a replaced one release it.
func (s *Server) setGate(key string, n int) {
	switch g := s.gates[key]; {
	case n == 0:
		delete(s.gates, key)
	case g == nil || cap(g) != n:
		s.gates[key] = make(chan struct{}, n)
	}
}

// admit waits for a worker of gate (nil: none needed); false when the client
// gave up or the server closes first. Blocked senders on a channel are served
// in order of arrival, so the line is first come, first served.
func (s *Server) admit(r *http.Request, gate chan struct{}) bool {
	if gate == nil {
		return true
	}
	select {
	case gate <- struct{}{}:
		return true
	case <-r.Context().Done():
	case <-s.done:
	}
	return false
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	st := Stats{Requests: s.requests.Load(), InFlight: s.inflight.Load(),
		ByPath: map[string]int64{}, ByStatus: map[string]int64{}}
	for k, v := range s.byPath {
		st.ByPath[k] = v
	}
	for k, v := range s.byStatus {
		st.ByStatus[k] = v
	}
	return st
}

// behaviourFor is the behaviour for path and its line of workers (nil: none).
func (s *Server) behaviourFor(path string) (Behaviour, chan struct{}) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	best, key, bestLen := s.def, "", -1
	for p, b := range s.rules {
		if strings.HasPrefix(path, p) && len(p) > bestLen {
			best, key, bestLen = b, p, len(p)
		}
	}
	return best, s.gates[key]
}

func (s *Server) count(path, outcome string) {
	s.statsMu.Lock()
	s.byPath[path]++
	s.byStatus[outcome]++
	s.statsMu.Unlock()
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, ControlPrefix) {
		s.control(w, r)
		return
	}
	s.requests.Add(1)
	s.inflight.Add(1)
	defer s.inflight.Add(-1)

	if s.refuse(w, r) {
		return
	}
	b, gate := s.behaviourFor(r.URL.Path)
	if !s.admit(r, gate) {
		s.count(r.URL.Path, "aborted")
		return
	}
	if gate != nil {
		defer func() { <-gate }()
	}
	admitted := time.Now()
	b, err := b.override(r.URL.Query())
	if err != nil {
		s.count(r.URL.Path, "400")
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if b.CPU > 0 {
		burnCPU(b.CPU)
	}
	if b.CPUPerRequest > 0 {
		burnThreadCPU(b.CPUPerRequest)
	}
	// Latency is the time to the headers once a worker has the request: CPU
	// burnt is part of it, not added to it (a service time of 50 ms with 5 ms
	// of CPU in it answers after 50 ms, not 55, and serves 20 a second per worker).
	delay := b.Latency - time.Since(admitted)
	if b.Jitter > 0 {
		delay += time.Duration(rand.Int64N(int64(b.Jitter) + 1))
	}
	if !s.wait(r.Context(), delay) {
		s.count(r.URL.Path, "aborted")
		return
	}
	switch b.Mode {
	case ModeClose, ModeReset, ModeMalformed, ModeHang:
		s.count(r.URL.Path, string(b.Mode))
		s.misbehave(w, b.Mode)
		return
	}
	status := b.Status
	if status == 0 {
		status = http.StatusOK
	}
	s.count(r.URL.Path, fmt.Sprint(status))
	s.respond(w, r, status, b)
}

// wait holds a request for d unless the client goes away or the server closes.
func (s *Server) wait(ctx context.Context, d time.Duration) bool { return fakes.Hold(ctx, s.done, d) }

func (s *Server) misbehave(w http.ResponseWriter, m Mode) {
	hj, ok := w.(http.Hijacker)
	if !ok { // HTTP/2 cannot hijack; the nearest thing is aborting the stream.
		panic(http.ErrAbortHandler)
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	switch m {
	case ModeReset:
		if tc, ok := netConn(conn).(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // close sends RST instead of FIN
		}
	case ModeMalformed:
		_, _ = buf.WriteString("this is not HTTP\r\n\r\n")
		_ = buf.Flush()
	case ModeHang:
		s.hangMu.Lock()
		s.hangs[conn] = struct{}{}
		s.hangMu.Unlock()
		// Hold the connection until the peer hangs up or the server closes.
		_, _ = conn.Read(make([]byte, 1))
		s.hangMu.Lock()
		delete(s.hangs, conn)
		s.hangMu.Unlock()
	}
	_ = conn.Close()
}

// netConn unwraps a TLS connection to reach the TCP socket for SetLinger.
func netConn(c net.Conn) net.Conn {
	if tc, ok := c.(*tls.Conn); ok {
		return tc.NetConn()
	}
	return c
}

type reply struct {
	Upstream   string            `json:"upstream"`
	Method     string            `json:"method"`
	Host       string            `json:"host"`
	Path       string            `json:"path"`
	Query      string            `json:"query,omitempty"` // raw, as received
	Headers    map[string]string `json:"headers"`
	TLS        bool              `json:"tls"`
	ClientCert string            `json:"client_cert,omitempty"` // absent | failed | success
	ClientCA   string            `json:"client_cert_issuer,omitempty"`
	Pad        string            `json:"pad,omitempty"`
}

func (s *Server) respond(w http.ResponseWriter, r *http.Request, status int, b Behaviour) {
	rep := reply{Upstream: s.name, Method: r.Method, Host: r.Host, Path: r.URL.Path, Query: r.URL.RawQuery,
		Headers: map[string]string{}, TLS: r.TLS != nil}
	for k, v := range r.Header {
		rep.Headers[k] = strings.Join(v, ", ")
	}
	if s.status != nil && r.TLS != nil {
		rep.ClientCert, rep.ClientCA = s.status(r)
		w.Header().Set("X-Client-Cert", rep.ClientCert)
	}
	body, _ := json.Marshal(rep)
	if n := b.BodySize - len(body); n > 0 {
		rep.Pad = strings.Repeat("x", n)
		body, _ = json.Marshal(rep)
	}
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Upstream-Name", s.name)
	h.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(status)
	if b.SlowBody <= 0 {
		_, _ = w.Write(body)
		return
	}
	// Headers go out at once; the body trickles over SlowBody in ten parts,
	// which is what a gateway's read_timeout between two reads is about.
	const parts = 10
	step := b.SlowBody / parts
	fl, _ := w.(http.Flusher)
	for i := 0; i < parts; i++ {
		lo, hi := len(body)*i/parts, len(body)*(i+1)/parts
		if _, err := w.Write(body[lo:hi]); err != nil {
			return
		}
		if fl != nil {
			fl.Flush()
		}
		if i < parts-1 && !s.wait(r.Context(), step) {
			return
		}
	}
}

// burnCPU spins for d of wall time on one core: the "CPU work per request"
// that makes an autoscaler see load.
func burnCPU(d time.Duration) {
	end := time.Now().Add(d)
	x := 1.0
	for time.Now().Before(end) {
		for i := 0; i < 1000; i++ {
			x = x*1.0000001 + 1e-9
		}
	}
	sinkF = x
}

var sinkF float64

// burnThreadCPU spins until this OS thread has used d of CPU time
// (CLOCK_THREAD_CPUTIME_ID): under a CPU limit or a busy machine the request
// takes longer, its CPU cost stays d.
func burnThreadCPU(d time.Duration) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start, ok := threadCPU()
	if !ok {
		burnCPU(d)
		return
	}
	x := 1.0
	for {
		for i := 0; i < 2000; i++ {
			x = x*1.0000001 + 1e-9
		}
		now, _ := threadCPU()
		if now-start >= d {
			break
		}
	}
	sinkF = x
}

func threadCPU() (time.Duration, bool) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}

// sortedKeys is used by the control API so its output is stable.
func sortedKeys(m map[string]Behaviour) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
