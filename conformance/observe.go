package conformance

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"
)

// Target is a running gateway as the suite sees it; *lab.Gateway is one.
type Target interface {
	ProxyURL() string
	AdminURL() string
	ErrorLog() []string
}

// Received is what the fake upstream says it got (its echo body).
type Received struct {
	Method  string            `json:"method"`
	Host    string            `json:"host"`
	Path    string            `json:"path"`
	Query   string            `json:"query,omitempty"`
	Headers map[string]string `json:"headers"`
}

// Observation is everything recorded for one case on one gateway, raw.
type Observation struct {
	StatusLine string            `json:"status_line"`
	Status     int               `json:"status"`
	Headers    map[string]string `json:"headers"`
	Body       string            `json:"body"`
	Received   *Received         `json:"received,omitempty"`
	Tries      int64             `json:"tries"`
	ErrorLog   []string          `json:"error_log,omitempty"`
	Elapsed    time.Duration     `json:"elapsed_ns"`
	Err        string            `json:"error,omitempty"`
}

// Counter says how many requests the upstreams have served so far.
type Counter func(ctx context.Context) int64

var client = &http.Client{
	Timeout: 15 * time.Second,
	Transport: &http.Transport{DisableKeepAlives: true, DisableCompression: true,
		Proxy: nil, ResponseHeaderTimeout: 15 * time.Second},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// Observe sends c's request (Repeat+1 times) to t and records the last answer.
func Observe(ctx context.Context, t Target, c Case, served Counter) Observation {
	base := t.ProxyURL()
	if c.Admin {
		base = t.AdminURL()
	}
	var o Observation
	if c.Wait > 0 {
		select {
		case <-ctx.Done():
		case <-time.After(c.Wait):
		}
	}
	for i := 0; i < c.Repeat; i++ {
		_, _ = send(ctx, base, c.Req)
	}
	logStart := len(t.ErrorLog())
	var before int64
	if served != nil {
		before = served(ctx)
	}
	start := time.Now()
	resp, err := send(ctx, base, c.Req)
	o.Elapsed = time.Since(start)
	if err != nil {
		o.Err = err.Error()
		return o
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	resp.Body.Close()
	o.StatusLine = resp.Proto + " " + resp.Status
	o.Status = resp.StatusCode
	o.Body = string(body)
	o.Headers = map[string]string{}
	for k, v := range resp.Header {
		o.Headers[k] = strings.Join(v, ", ")
	}
	if resp.Header.Get("X-Upstream-Name") != "" {
		var r Received
		if json.Unmarshal(body, &r) == nil {
			o.Received = &r
		}
	}
	if c.Compare.ErrorLog {
		o.ErrorLog = settledLog(ctx, t, logStart)
	}
	if served != nil {
		o.Tries = served(ctx) - before
	}
	return o
}

func send(ctx context.Context, base string, r Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if r.Body != "" {
		body = strings.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+r.Path, body)
	if err != nil {
		cancel()
		return nil, err
	}
	if r.Host != "" {
		req.Host = r.Host
	}
	for k, v := range r.Headers {
		req.Header.Set(k, v)
	}
	if r.From != "" || r.Trailing != "" {
		return sendOnConn(ctx, cancel, req, r) // observe_conn.go
	}
	resp, err := client.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelBody{resp.Body, cancel}
	return resp, nil
}

type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error { err := b.ReadCloser.Close(); b.cancel(); return err }

// settledLog waits (bounded) until the error log stops growing: a real
// Kong's nginx may write the line after the response went out.
func settledLog(ctx context.Context, t Target, from int) []string {
	deadline := time.Now().Add(2 * time.Second)
	last, stableSince := -1, time.Now()
	for time.Now().Before(deadline) && ctx.Err() == nil {
		n := len(t.ErrorLog())
		if n != last {
			last, stableSince = n, time.Now()
		} else if time.Since(stableSince) >= 250*time.Millisecond {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	lines := t.ErrorLog()
	if from > len(lines) {
		return nil
	}
	var out []string
	for _, l := range lines[from:] {
		if strings.Contains(l, "[error]") || strings.Contains(l, "[warn]") || strings.Contains(l, "[crit]") {
			out = append(out, l)
		}
	}
	sort.Strings(out)
	return out
}
