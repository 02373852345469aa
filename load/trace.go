package load

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"sync"
	"time"
)

// tracer wraps the transport vegeta uses. For each request it records the
// phase timings with httptrace and keeps the real error, which vegeta turns
// into a string; both are found again by the X-Vegeta-Seq header.
type tracer struct {
	base  http.RoundTripper
	ctx   context.Context // the run's context: cancelling it aborts requests in flight
	mu    sync.Mutex
	byseq map[uint64]*traced
}

type traced struct {
	start, dnsStart, connStart, tlsStart, firstByte time.Time
	dns, conn, tls                                  time.Duration
	reused                                          bool
	target                                          int
	err                                             error
}

func (t *tracer) RoundTrip(req *http.Request) (*http.Response, error) {
	seq, _ := strconv.ParseUint(req.Header.Get("X-Vegeta-Seq"), 10, 64)
	tr := &traced{start: time.Now()}
	tr.target, _ = strconv.Atoi(req.Header.Get(targetHeader))
	t.mu.Lock()
	t.byseq[seq] = tr
	t.mu.Unlock()
	// The trace callbacks may run on the transport's goroutines; each writes a
	// distinct field and all writes happen before RoundTrip returns the
	// response headers, except firstByte which is also written before.
	ct := &httptrace.ClientTrace{
		DNSStart:          func(httptrace.DNSStartInfo) { tr.dnsStart = time.Now() },
		DNSDone:           func(httptrace.DNSDoneInfo) { tr.dns = time.Since(tr.dnsStart) },
		ConnectStart:      func(string, string) { tr.connStart = time.Now() },
		ConnectDone:       func(string, string, error) { tr.conn = time.Since(tr.connStart) },
		TLSHandshakeStart: func() { tr.tlsStart = time.Now() },
		TLSHandshakeDone: func(tls.ConnectionState, error) {
			tr.tls = time.Since(tr.tlsStart)
		},
		GotConn:              func(i httptrace.GotConnInfo) { tr.reused = i.Reused },
		GotFirstResponseByte: func() { tr.firstByte = time.Now() },
	}
	ctx, stop := context.WithCancel(httptrace.WithClientTrace(req.Context(), ct))
	unhook := context.AfterFunc(t.ctx, stop)
	out := req.Clone(ctx)
	out.Header.Del(targetHeader) // the lab's bookkeeping, not the system's business
	resp, err := t.base.RoundTrip(out)
	if err != nil {
		tr.err = err
		unhook()
		stop()
		return nil, err
	}
	// The body is read by vegeta after RoundTrip returns; cancel only when it
	// is closed.
	resp.Body = &cancelOnClose{readCloser: resp.Body, cancel: func() { unhook(); stop() }}
	return resp, nil
}

// targetHeader carries the target index from the targeter to the tracer.
const targetHeader = "X-Chaoslab-Target"

// take removes and returns what was recorded for seq.
func (t *tracer) take(seq uint64) *traced {
	t.mu.Lock()
	defer t.mu.Unlock()
	tr := t.byseq[seq]
	delete(t.byseq, seq)
	return tr
}

type cancelOnClose struct {
	readCloser
	cancel func()
}

type readCloser = interface {
	Read([]byte) (int, error)
	Close() error
}

func (c *cancelOnClose) Close() error {
	err := c.readCloser.Close()
	c.cancel()
	return err
}
