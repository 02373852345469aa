package lab

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"sort"
	"time"
)

// ProbeResult is one request the lab made itself to check a fault.
type ProbeResult struct {
	Latency time.Duration
	Status  int
	Bytes   int
	Err     error
}

func (p ProbeResult) String() string {
	if p.Err != nil {
		return fmt.Sprintf("error after %s: %v", p.Latency.Round(time.Millisecond), p.Err)
	}
	return fmt.Sprintf("%d after %s", p.Status, p.Latency.Round(100*time.Microsecond))
}

// probe makes one GET on a fresh connection (no keep-alive pool can hide a
// fault from it) and reads the whole body. It skips certificate checks: it
// asks "does traffic flow through the proxy", not "is the certificate right".
func probe(ctx context.Context, url string, timeout time.Duration) ProbeResult {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tr := &http.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return ProbeResult{Err: err}
	}
	t0 := time.Now()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return ProbeResult{Latency: time.Since(t0), Err: err}
	}
	n, err := io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return ProbeResult{Latency: time.Since(t0), Status: resp.StatusCode, Bytes: int(n), Err: err}
}

// medianProbe runs n probes and returns the one with the median latency, so a
// single scheduling hiccup on a busy machine does not decide a verdict.
func medianProbe(ctx context.Context, url string, timeout time.Duration, n int) ProbeResult {
	rs := make([]ProbeResult, 0, n)
	for i := 0; i < n; i++ {
		rs = append(rs, probe(ctx, url, timeout))
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].Latency < rs[j].Latency })
	return rs[n/2]
}
