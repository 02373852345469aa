package lb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// Retry is the hop's retry policy, as an F5 pool or an nginx
// proxy_next_upstream says it: each try waits TryTimeout for the backend's
// response headers; a try that times out is given up (the backend keeps
// working on it) and the request is sent again, at most Retries more times.
// Only idempotent methods are retried unless RetryNonIdempotent: the
// incident is an LB that retries a POST the backend already executed.
// In the control API's JSON, try_timeout is in nanoseconds (time.Duration).
type Retry struct {
	TryTimeout         time.Duration `json:"try_timeout,omitempty"` // 0: wait as long as the backend takes, no retries
	Retries            int           `json:"retries,omitempty"`     // tries after the first
	RetryNonIdempotent bool          `json:"retry_non_idempotent,omitempty"`
}

// maxRetryBody bounds what the hop buffers to be able to send a body again.
const maxRetryBody = 1 << 20

func (r Retry) validate() error {
	switch {
	case r.TryTimeout < 0:
		return fmt.Errorf("--try-timeout: must not be negative, got %s", r.TryTimeout)
	case r.Retries < 0 || r.Retries > 10:
		return fmt.Errorf("--retries: must be 0..10, got %d", r.Retries)
	case r.Retries > 0 && r.TryTimeout == 0:
		return fmt.Errorf("--retries: needs --try-timeout (a try must be able to time out to be retried)")
	}
	return nil
}

// idempotent are the methods RFC 9110 says can be repeated safely.
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// errTriesTimedOut is every try timing out: the hop answers 504.
var errTriesTimedOut = errors.New("every try timed out waiting for the response headers")

// extraCounters are the counters of retry.go and reframe.go.
type extraCounters struct {
	tryTimeouts, retries, reframed atomic.Int64
}

// extraStats are their values in Stats.
type extraStats struct {
	TryTimeouts int64 `json:"try_timeouts"` // tries given up after TryTimeout
	Retried     int64 `json:"retried"`      // requests sent to the backend again
	Reframed    int64 `json:"reframed"`     // request bodies sent with a wrong Content-Length
}

func (c *extraCounters) snapshot() extraStats {
	return extraStats{TryTimeouts: c.tryTimeouts.Load(), Retried: c.retries.Load(), Reframed: c.reframed.Load()}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// roundTrip is the proxy's transport: the engine the policy picks (the
// pooled transport, or the re-framing one), tried as Retry says.
func (s *Server) roundTrip(r *http.Request) (*http.Response, error) {
	p, _ := r.Context().Value(policyKey{}).(*Policy)
	if p == nil {
		p = s.policy.Load()
	}
	send := s.tr.RoundTrip
	if p.ReframeShort > 0 {
		send = func(r *http.Request) (*http.Response, error) { return s.raw.roundTrip(s, r, p.ReframeShort) }
	}
	if p.TryTimeout <= 0 {
		return send(r)
	}
	body, err := bufferBody(r, "buffered for retries")
	if err != nil {
		return nil, err
	}
	tries := 1
	if p.RetryNonIdempotent || idempotent(r.Method) {
		tries += p.Retries
	}
	for try := 1; ; try++ {
		resp, err := s.try(r, body, p.TryTimeout, send)
		if !errors.Is(err, errTriesTimedOut) {
			return resp, err
		}
		s.extra.tryTimeouts.Add(1)
		fmt.Fprintf(s.stderr, "lb: try %d of %s %s timed out after %s\n", try, r.Method, r.URL.Path, p.TryTimeout)
		if try >= tries || r.Context().Err() != nil {
			return nil, err
		}
		s.extra.retries.Add(1)
	}
}

// try sends one copy of r and gives up when no response header arrived
// within timeout; the response body is read under the try's context.
func (s *Server) try(r *http.Request, body []byte, timeout time.Duration, send func(*http.Request) (*http.Response, error)) (*http.Response, error) {
	ctx, cancel := context.WithCancel(r.Context())
	var timedOut atomic.Bool
	timer := time.AfterFunc(timeout, func() { timedOut.Store(true); cancel() })
	out := r.Clone(ctx)
	if body != nil {
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.ContentLength = int64(len(body))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	resp, err := send(out)
	stopped := timer.Stop()
	if err != nil {
		cancel()
		if timedOut.Load() {
			return nil, errTriesTimedOut
		}
		return nil, err
	}
	if !stopped && timedOut.Load() {
		// The headers and the timer raced; the context is gone, so is the body.
		resp.Body.Close()
		cancel()
		return nil, errTriesTimedOut
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// bufferBody reads r's body into memory (nil when it has none), up to
// maxRetryBody bytes: retries resend it, the re-framing engine rewrites its
// framing. why ends the error of a body too large for that.
func bufferBody(r *http.Request, why string) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxRetryBody+1))
	_ = r.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("reading the request body: %w", err)
	}
	if len(b) > maxRetryBody {
		return nil, fmt.Errorf("request body over %d bytes: not %s", maxRetryBody, why)
	}
	return b, nil
}
