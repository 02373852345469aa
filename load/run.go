package load

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/chaoslab/chaoslab/internal/loopback"
)

// Run attacks targets (round robin) at the pacer's rate for d and returns
// every result in order of sending. It ends by itself after d, or early when
// ctx is cancelled (requests in flight are aborted).
func Run(ctx context.Context, targets []Target, p Pacer, d time.Duration, opts ...Option) (Results, error) {
	var out Results
	err := Stream(ctx, targets, p, d, func(r Result) { out = append(out, r) }, opts...)
	out.sortBySeq()
	return out, err
}

// Stream is Run with results delivered to fn as they complete (from one
// goroutine, in completion order).
func Stream(ctx context.Context, targets []Target, p Pacer, d time.Duration, fn func(Result), opts ...Option) error {
	c := defaults()
	for _, o := range opts {
		o(&c)
	}
	if len(targets) == 0 {
		return errors.New("load: no targets")
	}
	for _, t := range targets {
		if err := c.checkTarget(t.URL); err != nil {
			return fmt.Errorf("load: %w", err)
		}
	}
	if c.proxy != nil {
		if err := c.checkHost(c.proxy.Hostname(), "proxy "+c.proxy.String()); err != nil {
			return fmt.Errorf("load: %w", err)
		}
	}
	if err := c.checkBounds(p, d); err != nil {
		return fmt.Errorf("load: %w", err)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	base := c.transport()
	defer base.CloseIdleConnections()
	tr := &tracer{base: base, ctx: ctx, byseq: map[uint64]*traced{}}
	if c.wrap != nil {
		tr.base = c.wrap(base)
	}
	client := &http.Client{Transport: tr, Timeout: c.timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	vopts := []func(*vegeta.Attacker){vegeta.Client(client), vegeta.Workers(c.workers), vegeta.MaxBody(c.bodyBytes)}
	if c.maxWorkers > 0 {
		vopts = append(vopts, vegeta.MaxWorkers(c.maxWorkers))
	}
	atk := vegeta.NewAttacker(vopts...)
	stop := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stop()

	vts := make([]vegeta.Target, len(targets))
	for i, t := range targets {
		m := t.Method
		if m == "" {
			m = http.MethodGet
		}
		vts[i] = vegeta.Target{Method: m, URL: t.URL, Body: t.Body, Header: t.Header.Clone()}
	}
	var next atomic.Uint64
	targeter := func(t *vegeta.Target) error {
		i := next.Add(1) - 1
		*t = vts[i%uint64(len(vts))]
		t.Header = t.Header.Clone() // vegeta sets X-Vegeta-Seq on it
		if t.Header == nil {
			t.Header = http.Header{}
		}
		t.Header.Set(targetHeader, fmt.Sprint(i%uint64(len(vts))))
		return nil
	}

	for vr := range atk.Attack(targeter, p, d, c.name) {
		r := c.convert(vr, tr.take(vr.Seq))
		if fn != nil {
			fn(r)
		}
		if c.onResult != nil {
			c.onResult(r)
		}
	}
	return ctx.Err()
}

func (c *config) transport() *http.Transport {
	dialer := &net.Dialer{Timeout: c.timeout, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		Proxy: nil, // never from the environment; see WithProxy
		// checkTarget sees the URL; this sees what a name resolved to (a
		// "localhost" mapped elsewhere, a wrapper rewriting the host).
		DialContext:         loopback.Dial(dialer, func(h string) bool { return c.allowHosts[h] }),
		TLSClientConfig:     c.tls,
		MaxIdleConnsPerHost: c.connections,
		DisableKeepAlives:   !c.keepAlive,
		ForceAttemptHTTP2:   c.http2,
		TLSHandshakeTimeout: c.timeout,
	}
	if t.TLSClientConfig == nil {
		t.TLSClientConfig = &tls.Config{}
	}
	if c.proxy != nil {
		t.Proxy = http.ProxyURL(c.proxy)
	}
	return t
}

func (c *config) convert(vr *vegeta.Result, tr *traced) Result {
	r := Result{Seq: vr.Seq, Timestamp: vr.Timestamp, Code: int(vr.Code), Latency: vr.Latency, Error: vr.Error}
	if h := vr.Headers; h != nil {
		for _, name := range c.headers {
			if v := h.Get(name); v != "" {
				if r.Headers == nil {
					r.Headers = map[string]string{}
				}
				r.Headers[name] = v
			}
		}
	}
	if len(vr.Body) > 0 {
		r.Body = string(vr.Body)
	}
	if tr != nil {
		r.Target = tr.target
		r.Phases = Phases{DNS: tr.dns, Connect: tr.conn, TLS: tr.tls, Reused: tr.reused, Total: vr.Latency}
		if !tr.firstByte.IsZero() {
			r.Phases.TTFB = tr.firstByte.Sub(tr.start)
		}
		if tr.err != nil {
			r.ErrorKind = Classify(tr.err)
		}
	}
	if r.Code == 0 && (r.ErrorKind == "" || r.ErrorKind == ErrOther) {
		// The transport succeeded but reading the body failed, or the
		// client timeout fired: vegeta only kept the text.
		r.ErrorKind = classifyText(vr.Error)
	}
	return r
}

func classifyText(msg string) ErrorKind {
	if msg == "" {
		return ErrOther
	}
	return Classify(errors.New(msg))
}
