// Package imds is the lab's EC2 instance metadata service: the IMDSv1/IMDSv2
// endpoints the AWS SDKs use to get instance-role credentials, with a
// configurable, rolling credential lifetime (the real service hands out ~6 h
// credentials; KIAM and kube2iam hand out 15-minute ones, which is the seed
// incident), per-call latency, injected failures, per-path call counters and a
// call log. Everything can be changed while it runs, in-process through
// methods or from outside through PUT /__chaoslab/imds.
package imds

import (
	"github.com/chaoslab/chaoslab/fakes"

	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chaoslab/chaoslab/internal/recent"
)

// Defaults for a zero Config.
const (
	DefaultTTL  = 6 * time.Hour // what EC2's own IMDS hands out
	DefaultRole = "chaoslab-role"
	// maxLog bounds the call log: a refresh storm makes thousands of calls
	// and the log is evidence, not an archive. Counters are never dropped.
	maxLog = 10000
)

// Config is the metadata service's start-up configuration.
type Config struct {
	Listen string // default 127.0.0.1:0
	// TTL is the lifetime of each credential set: Expiration = Now() + TTL.
	TTL            time.Duration // default 6h
	Latency        time.Duration // added to every metadata call
	Role           string        // default "chaoslab-role"
	IMDSv2Required bool          // GETs without a valid session token get 401
	Fail           FailMode      // default none
	// Now is the clock for Expiration, LastUpdated and token lifetimes, so a
	// test can issue credentials "as of" any moment without waiting.
	// Default time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:0"
	}
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.Role == "" {
		c.Role = DefaultRole
	}
	if c.Fail == "" {
		c.Fail = FailNone
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate reports the first bad field as a one-line error naming its flag.
func (c Config) Validate() error {
	if c.TTL != 0 { // 0 is the default
		if err := validTTL(c.TTL); err != nil {
			return err
		}
	}
	if c.Latency < 0 {
		return fmt.Errorf("--latency: must not be negative, got %s", c.Latency)
	}
	if err := validRole(c.Role); err != nil {
		return err
	}
	return c.Fail.Validate()
}

// validTTL wants whole seconds' worth: Expiration has whole-second
// precision, as on EC2.
func validTTL(d time.Duration) error {
	if d < time.Second {
		return fmt.Errorf("--ttl: must be at least 1s (Expiration has whole seconds), got %s", d)
	}
	return nil
}

// Call is one metadata request as the service saw it.
type Call struct {
	Time   time.Time // when it arrived (wall clock, not the Now hook)
	Method string
	Path   string
	Token  bool // carried an X-aws-ec2-metadata-token header
	// Status answered; 0 when the client gave up first (hang, or a latency
	// longer than the client's timeout).
	Status int
}

// Server is a running metadata service.
type Server struct {
	ln   net.Listener
	srv  *http.Server
	url  string
	role string
	now  func() time.Time

	mu       sync.RWMutex
	ttl      time.Duration
	latency  time.Duration
	fail     FailMode
	v2Only   bool
	tokens   map[string]time.Time // session token -> expiry (by now)
	issued   int64                // credential sets handed out
	calls    map[string]int64
	log      recent.Log[*Call]
	total    atomic.Int64
	done     chan struct{}
	closeOne sync.Once
	closeErr error
}

// Start listens and serves; the service is ready when Start returns.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("imds: %w", err)
	}
	cfg = cfg.withDefaults()
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("imds: --listen %s: %w", cfg.Listen, err)
	}
	s := &Server{
		log: recent.Log[*Call]{Max: maxLog},
		ln:  ln, url: "http://" + ln.Addr().String(), role: cfg.Role, now: cfg.Now,
		ttl: cfg.TTL, latency: cfg.Latency, fail: cfg.Fail, v2Only: cfg.IMDSv2Required,
		tokens: map[string]time.Time{}, calls: map[string]int64{},
		done: make(chan struct{}),
	}
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// URL is the endpoint to give an SDK (imds.Options.Endpoint or
// AWS_EC2_METADATA_SERVICE_ENDPOINT).
func (s *Server) URL() string { return s.url }

// Addr is host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Role is the instance role name the service reports.
func (s *Server) Role() string { return s.role }

// Info is the start-up report (fakes.Server).
func (s *Server) Info() map[string]string {
	st := s.State()
	return map[string]string{
		"role":            st.Role,
		"ttl":             st.TTL,
		"imdsv2-required": fmt.Sprint(st.IMDSv2Required),
		"credentials":     "curl " + s.url + CredentialsPath + st.Role,
	}
}

// Close stops the service, releasing requests held by the hang mode or a
// latency. Idempotent.
func (s *Server) Close() error {
	s.closeOne.Do(func() {
		close(s.done)
		err := s.srv.Close()
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.closeErr = err
	})
	return s.closeErr
}

// SetTTL changes the lifetime of credentials issued from now on.
func (s *Server) SetTTL(d time.Duration) error {
	if err := validTTL(d); err != nil {
		return err
	}
	s.mu.Lock()
	s.ttl = d
	s.mu.Unlock()
	return nil
}

// SetLatency changes the delay added to every metadata call.
func (s *Server) SetLatency(d time.Duration) error {
	if err := (Config{Latency: d}).Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	s.latency = d
	s.mu.Unlock()
	return nil
}

// SetFail changes the injected failure.
func (s *Server) SetFail(m FailMode) error {
	if err := m.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	s.fail = m
	s.mu.Unlock()
	return nil
}

// SetIMDSv2Required switches between accepting IMDSv1 and requiring tokens.
func (s *Server) SetIMDSv2Required(v bool) {
	s.mu.Lock()
	s.v2Only = v
	s.mu.Unlock()
}

// Calls counts metadata requests by path (control calls excluded).
func (s *Server) Calls() map[string]int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[string]int64, len(s.calls))
	for k, v := range s.calls {
		out[k] = v
	}
	return out
}

// Total is the number of metadata requests (control calls excluded).
func (s *Server) Total() int64 { return s.total.Load() }

// CredentialFetches is the number of credential documents handed out.
func (s *Server) CredentialFetches() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.issued
}

// Log returns the most recent calls (at most 10000), oldest first.
func (s *Server) Log() []Call {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Call, s.log.Len())
	for i, c := range s.log.All() {
		out[i] = *c
	}
	return out
}

// arrive counts a call when it reaches the handler (before latency), so a
// test can see a hung request arrive, and logs it.
func (s *Server) arrive(r *http.Request) *Call {
	s.total.Add(1)
	c := &Call{Time: time.Now(), Method: r.Method, Path: r.URL.Path, Token: r.Header.Get(TokenHeader) != ""}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[r.URL.Path]++
	s.log.Add(c)
	return c
}

// answered records the status sent for c.
func (s *Server) answered(c *Call, status int) {
	s.mu.Lock()
	c.Status = status
	s.mu.Unlock()
}

// wait holds a request for d unless the client goes away or the server closes.
func (s *Server) wait(ctx context.Context, d time.Duration) bool { return fakes.Hold(ctx, s.done, d) }
