package kong

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Active health checks: one goroutine per target probes it every
// healthy.interval while healthy and every unhealthy.interval while
// unhealthy (0 means "don't probe in that state"), with a fresh connection
// per probe like lua-resty-healthcheck. Intervals may be fractional seconds
// so a lab can compress time.

func seconds(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

func (b *balancer) startActive(parent context.Context, g *Gateway) {
	ctx, cancel := context.WithCancel(parent)
	b.stopChecks = cancel
	ac := b.up.Healthchecks.Active
	d := &upstreamDialer{connectTimeout: seconds(ac.Timeout), allowNonLoopback: g.opts.AllowNonLoopback}
	tr := &http.Transport{
		DialContext:       d.dial,
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: !ac.HTTPSVerifyCertificate, ServerName: ac.HTTPSSni},
	}
	for _, ts := range b.targets {
		b.checksDone.Add(1)
		go func() {
			defer b.checksDone.Done()
			defer tr.CloseIdleConnections()
			b.probeLoop(ctx, g, ts, tr)
		}()
	}
}

func (b *balancer) stopActive() {
	if b.stopChecks != nil {
		b.stopChecks()
		b.checksDone.Wait()
	}
}

func (b *balancer) probeLoop(ctx context.Context, g *Gateway, ts *targetState, tr *http.Transport) {
	ac := b.up.Healthchecks.Active
	for {
		b.mu.Lock()
		healthy := ts.healthy
		b.mu.Unlock()
		iv := seconds(ac.Unhealthy.Interval)
		if healthy {
			iv = seconds(ac.Healthy.Interval)
		}
		if iv <= 0 {
			select {
			case <-ctx.Done():
				return
			case <-ts.changed:
				continue
			}
		}
		t := time.NewTimer(iv)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-ts.changed:
			t.Stop()
			continue
		case <-t.C:
		}
		b.report(ts, fromActive, b.probe(ctx, g, ts, tr))
	}
}

func (b *balancer) probe(ctx context.Context, g *Gateway, ts *targetState, tr *http.Transport) healthOutcome {
	ac := b.up.Healthchecks.Active
	addrs, err := b.res.lookup(ctx, ts.t.Host)
	b.mu.Lock()
	ts.dnsError = err != nil
	b.mu.Unlock()
	if err != nil {
		return outcomeIgnored
	}
	addr := net.JoinHostPort(addrs[0], strconv.Itoa(ts.t.Port))
	pctx, cancel := context.WithTimeout(ctx, seconds(ac.Timeout))
	defer cancel()
	if ac.Type == "tcp" {
		d := &upstreamDialer{connectTimeout: seconds(ac.Timeout), allowNonLoopback: g.opts.AllowNonLoopback}
		c, err := d.dial(pctx, "tcp", addr)
		if err != nil {
			return b.probeFailure(ctx, err)
		}
		c.Close()
		return outcomeSuccess
	}
	scheme := "http"
	if ac.Type == "https" {
		scheme = "https"
	}
	req, err := http.NewRequestWithContext(pctx, http.MethodGet, scheme+"://"+addr+ac.HTTPPath, nil)
	if err != nil {
		return outcomeIgnored
	}
	req.Host = ts.t.Host
	if b.up.HostHeader != "" {
		req.Host = b.up.HostHeader
	}
	for k, vv := range ac.Headers {
		for _, v := range vv {
			req.Header.Add(k, v)
		}
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return b.probeFailure(ctx, err)
	}
	resp.Body.Close()
	return b.classifyStatus(fromActive, resp.StatusCode)
}

func (b *balancer) probeFailure(ctx context.Context, err error) healthOutcome {
	if ctx.Err() != nil {
		return outcomeIgnored // shutting down, not a verdict on the target
	}
	if isTimeout(err) {
		return outcomeTimeout
	}
	return outcomeTCPFailure
}
