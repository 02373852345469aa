package lab

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"

	"github.com/chaoslab/chaoslab/fakes/upstream"
)

// Upstream is a fake upstream with a fault proxy in front of it.
type Upstream struct {
	Name    string
	Fake    *Fake // the upstream itself, without the proxy
	Proxy   *FaultProxy
	Control *upstream.Client
	scheme  string
	direct  string
}

// CAPath is the root CA PEM a client must trust for a TLS upstream.
func (u *Upstream) CAPath() string { return u.Fake.Info("ca") }

// ClientCert is the certificate and key files a client presents to an
// upstream that requires one (--client-auth), "" otherwise.
func (u *Upstream) ClientCert() (certPath, keyPath string) {
	return u.Fake.Info("client-cert"), u.Fake.Info("client-key")
}

// URL is the upstream as clients should reach it: through its fault proxy.
func (u *Upstream) URL() string { return u.scheme + "://" + u.Proxy.Addr() }

// Addr is the fault proxy's host:port (for kong.yml targets and services).
func (u *Upstream) Addr() string { return u.Proxy.Addr() }

// DirectURL bypasses the fault proxy ("curl the upstream from the gateway host").
func (u *Upstream) DirectURL() string { return u.direct }

// Upstream starts a fake upstream and a fault proxy in front of it. The
// config's Listen is ignored: the backend picks a free loopback port.
func (l *Lab) Upstream(ctx context.Context, name string, cfg upstream.Config) (*Upstream, error) {
	if err := l.checkOpen(); err != nil {
		return nil, err
	}
	cfg.Name, cfg.Listen = name, "127.0.0.1:0"
	if cfg.TLSFlags.Enabled && cfg.CertDir == "" {
		cfg.CertDir = filepath.Join(l.dir, "upstream-"+name)
	}
	svc, err := l.backend.StartFake(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("upstream %s: %w", name, err)
	}
	l.onClose("upstream "+name, svc.Close)
	if m, ok := svc.(Mortal); ok {
		l.watch("upstream "+name, m)
	}
	l.Record("started", name, "upstream "+svc.URL())
	u, err := url.Parse(svc.URL())
	if err != nil {
		return nil, err
	}
	// The control API is the lab's own channel, not the system under test:
	// it skips certificate checks, and presents the lab's client certificate
	// to an upstream that requires one (--client-auth require).
	tc := &tls.Config{InsecureSkipVerify: true}
	fake := &Fake{name: cfg.Fake(), svc: svc}
	if crt, key := fake.Info("client-cert"), fake.Info("client-key"); crt != "" {
		pair, err := tls.LoadX509KeyPair(crt, key)
		if err != nil {
			return nil, fmt.Errorf("upstream %s: the lab's client certificate: %w", name, err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
	l.onClose("upstream control client "+name, func() error { hc.CloseIdleConnections(); return nil })
	up := &Upstream{Name: name, Fake: fake, scheme: u.Scheme, direct: svc.URL(),
		Control: &upstream.Client{Base: svc.URL(), HTTP: hc}}
	if err := up.Control.Healthy(ctx); err != nil {
		return nil, fmt.Errorf("upstream %s not ready: %w", name, err)
	}
	up.Proxy, err = l.FaultProxy(ctx, name, u.Host, u.Scheme, upstream.ControlPrefix+"health")
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.upstreams[name] = up
	l.mu.Unlock()
	return up, nil
}
