package lab

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"time"

	"github.com/chaoslab/chaoslab/fakes/app"
	"github.com/chaoslab/chaoslab/fakes/imds"
	"github.com/chaoslab/chaoslab/fakes/lb"
	"github.com/chaoslab/chaoslab/fakes/mitm"
	"github.com/chaoslab/chaoslab/fakes/tokens"
)

// The typed handles of the fakes that need more than a URL, each started
// through Lab.Fake and reading what its fake reported at start-up. A fake
// without one here is started and read through Lab.Fake and Fake.Info.

// controlClient is the lab's own HTTP client for a fake's control endpoint:
// no proxy, and no keep-alive, so it holds no connection past a call.
func (l *Lab) controlClient() *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
}

// IMDS is a running EC2 metadata service fake.
type IMDS struct {
	*Fake
	Control *imds.Client
}

// Role is the instance role name the service hands credentials for.
func (m *IMDS) Role() string { return m.Info("role") }

// IMDS starts the metadata service fake; cfg.Listen is the backend's choice.
func (l *Lab) IMDS(ctx context.Context, cfg imds.Config) (*IMDS, error) {
	cfg.Listen = "127.0.0.1:0"
	f, err := l.Fake(ctx, cfg)
	if err != nil {
		return nil, err
	}
	m := &IMDS{Fake: f, Control: &imds.Client{Base: f.URL(), HTTP: l.controlClient()}}
	if m.Role() == "" {
		return nil, fmt.Errorf("imds: no role in its start-up report")
	}
	return m, nil
}

// App is a running instrumented app (the credentials incident's service).
type App struct{ *Fake }

// Rule is the credentials refresh rule the app runs, with its windows.
func (a *App) Rule() string { return a.Info("rule") }

// App starts the instrumented app; cfg.Listen is the backend's choice.
func (l *Lab) App(ctx context.Context, cfg app.Config) (*App, error) {
	cfg.Listen = "127.0.0.1:0"
	f, err := l.Fake(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &App{Fake: f}, nil
}

// MITM is a running TLS-inspecting forward proxy.
type MITM struct {
	*Fake
	ProxyURL *url.URL // http://127.0.0.1:P, for load.WithProxy
}

// CAPath is the proxy's own root CA PEM.
func (p *MITM) CAPath() string { return p.Info("ca") }

// Addr is host:port, what `openssl s_client -proxy` takes.
func (p *MITM) Addr() string { return p.ProxyURL.Host }

// MITM starts the proxy with its CA file in the lab's directory (dir/name
// unless cfg.Dir says otherwise), so it goes when the lab goes.
func (l *Lab) MITM(ctx context.Context, name string, cfg mitm.Config) (*MITM, error) {
	if cfg.Dir == "" {
		cfg.Dir = filepath.Join(l.dir, name)
	}
	f, err := l.Fake(ctx, cfg)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(f.URL())
	if err != nil {
		return nil, fmt.Errorf("mitm %s: %w", name, err)
	}
	p := &MITM{Fake: f, ProxyURL: u}
	if p.CAPath() == "" {
		return nil, fmt.Errorf("mitm %s: no ca in its start-up report", name)
	}
	return p, nil
}

// Tokens is a running OAuth2 token issuer.
type Tokens struct{ *Fake }

// TokenURL is the issuer's token endpoint.
func (t *Tokens) TokenURL() string { return t.Info("token") }

// Tokens starts the token issuer.
func (l *Lab) Tokens(ctx context.Context, cfg tokens.Config) (*Tokens, error) {
	f, err := l.Fake(ctx, cfg)
	if err != nil {
		return nil, err
	}
	t := &Tokens{Fake: f}
	if t.TokenURL() == "" {
		return nil, fmt.Errorf("tokens: no token URL in its start-up report")
	}
	return t, nil
}

// LB is a running load-balancer hop and its control client.
type LB struct {
	*Fake
	Control *lb.Client
}

// LB starts the load-balancer hop.
func (l *Lab) LB(ctx context.Context, cfg lb.Config) (*LB, error) {
	f, err := l.Fake(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &LB{Fake: f, Control: &lb.Client{Base: f.URL()}}, nil
}
