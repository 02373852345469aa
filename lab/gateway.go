package lab

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/chaoslab/chaoslab/fakes/kong"
)

// Gateway is the API gateway under test: the Kong-compatible emulation or a
// real Kong (docker backend), configured by a Kong declarative config and
// driven through Kong's admin API — the same calls for both.
type Gateway struct {
	svc   Service
	kind  string // "emulation", the Kong image, or KindHostKong
	admin string
	lab   *Lab
	hc    *http.Client

	mu      sync.Mutex
	version int
}

// GatewayOptions is what GatewayOption values set; backends that start the
// gateway themselves (GatewayStarter) read it.
type GatewayOptions struct {
	// Hosts resolve names for the gateway (service hosts, upstream targets)
	// without any DNS query leaving the machine: name -> IP.
	Hosts map[string]string
	// DNS, when set, is a host:port DNS server the gateway resolves through
	// (the lab's fake DNS).
	DNS string
	// Choice is "emulation" or "kong"; "" follows EnvGateway (make GATEWAY=).
	Choice string
	// TrustedIPs is kong.conf's trusted_ips (IPs and CIDRs, comma
	// separated): peers whose X-Forwarded-* headers Kong believes.
	TrustedIPs string
}

// Selected is the gateway these options ask for: Choice, else EnvGateway.
func (o GatewayOptions) Selected() string {
	if o.Choice != "" {
		return o.Choice
	}
	return GatewayChoice()
}

// GatewayOption configures the gateway (functional options).
type GatewayOption func(*GatewayOptions)

// WithHosts resolves names for the gateway (service hosts, upstream
// targets) without any DNS query leaving the machine: name -> IP.
func WithHosts(hosts map[string]string) GatewayOption {
	return func(o *GatewayOptions) { o.Hosts = hosts }
}

// WithGateway picks the gateway for this start, whatever EnvGateway says:
// "emulation" or "kong" (real Kong: a host process on the embedded backend).
// The differential suite starts both in one lab this way.
func WithGateway(choice string) GatewayOption { return func(o *GatewayOptions) { o.Choice = choice } }

// WithTrustedIPs sets Kong's trusted_ips (IPs and CIDRs, comma separated):
// a TLS-offloading LB's X-Forwarded-Proto is believed only from these.
func WithTrustedIPs(list string) GatewayOption {
	return func(o *GatewayOptions) { o.TrustedIPs = list }
}

// WithDNS makes the gateway resolve through a host:port DNS server (the
// lab's fake DNS).
func WithDNS(addr string) GatewayOption { return func(o *GatewayOptions) { o.DNS = addr } }

// GatewayStarter is implemented by backends that run the gateway their own
// way (docker: real Kong when the image is there). Others run the
// registered "gateway" fake.
type GatewayStarter interface {
	StartGateway(ctx context.Context, configPath string, o GatewayOptions) (svc Service, kind string, err error)
}

// Gateway starts the gateway with a kong.yml. The config is written to the
// lab's directory; a bad config is an error naming the entity and field.
func (l *Lab) Gateway(ctx context.Context, kongYAML string, opts ...GatewayOption) (*Gateway, error) {
	var o GatewayOptions
	for _, opt := range opts {
		opt(&o)
	}
	if c := o.Selected(); c != "" && c != "kong" && c != "emulation" {
		return nil, fmt.Errorf("gateway %q: want emulation or kong (GATEWAY=, %s)", c, EnvGateway)
	}
	if err := l.checkOpen(); err != nil {
		return nil, err
	}
	// Each gateway of a lab (several Kong nodes behind a load balancer) has
	// its own directory: real Kong keeps its prefix, kong.conf and logs there.
	dir := l.dir
	if n := l.gatewaySeq.Add(1); n > 1 {
		dir = filepath.Join(l.dir, fmt.Sprintf("gateway-%d", n))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
	}
	path := filepath.Join(dir, "kong.yml")
	if err := os.WriteFile(path, []byte(kongYAML), 0o644); err != nil {
		return nil, err
	}
	var (
		svc  Service
		kind = "emulation"
		err  error
	)
	if gs, ok := l.backend.(GatewayStarter); ok {
		svc, kind, err = gs.StartGateway(ctx, path, o)
	} else if hostKongSelected(l.backend, o) {
		svc, kind, err = startHostKong(ctx, l, path, o) // GATEWAY=kong (gateway_kong.go)
	} else {
		svc, err = l.backend.StartFake(ctx, o.EmulationConfig(path))
	}
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	l.onClose("gateway", svc.Close)
	if m, ok := svc.(Mortal); ok {
		l.watch("gateway", m)
	}
	g := &Gateway{svc: svc, kind: kind, admin: svc.Info()["admin"], lab: l,
		hc: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}}
	l.onClose("gateway admin client", func() error { g.hc.CloseIdleConnections(); return nil })
	if g.admin == "" {
		return nil, fmt.Errorf("gateway: no admin URL in its output %v", svc.Info())
	}
	l.Record("started", "gateway", kind+" proxy "+svc.URL()+" admin "+g.admin)
	return g, nil
}

// EmulationConfig is the gateway emulation's configuration for a kong.yml
// path and these options, listening where the backend chooses.
func (o GatewayOptions) EmulationConfig(configPath string) kong.CLIConfig {
	c := kong.CLIConfig{ConfigPath: configPath, Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0", DNS: o.DNS,
		TrustedIPs: o.TrustedIPs}
	for n, ip := range o.Hosts {
		if c.Hosts == nil {
			c.Hosts = map[string][]string{}
		}
		c.Hosts[n] = []string{ip}
	}
	return c
}

// ProxyURL is where clients send traffic (Kong's :8000).
func (g *Gateway) ProxyURL() string { return g.svc.URL() }

// AdminURL is Kong's admin API (:8001).
func (g *Gateway) AdminURL() string { return g.admin }

// Kind says which gateway ran: "emulation", a Kong image, or real Kong as a
// host process with its version (KindHostKong).
func (g *Gateway) Kind() string { return g.kind }

// ErrorLog is the nginx-style error log so far.
func (g *Gateway) ErrorLog() []string { return g.svc.Stderr() }

// AccessLog is the access log so far.
func (g *Gateway) AccessLog() []string { return g.svc.Stdout() }

// ErrorLogSince returns error-log lines after the first n (use with a
// length taken at the start of a phase).
func (g *Gateway) ErrorLogSince(n int) []string {
	lines := g.ErrorLog()
	if n > len(lines) {
		return nil
	}
	return lines[n:]
}

// Reload replaces the configuration the way `POST /config` does on Kong:
// 201 applies it, 400 explains the field errors and keeps the old one.
func (g *Gateway) Reload(ctx context.Context, kongYAML string) error {
	code, b, err := g.PostConfig(ctx, kongYAML)
	if err != nil {
		return err
	}
	if code != http.StatusCreated {
		return fmt.Errorf("gateway reload: %d %s: %s", code, http.StatusText(code), strings.TrimSpace(string(b)))
	}
	return nil
}

// PostConfig sends kongYAML to the admin API's POST /config (multipart, as
// `curl -F config=@kong.yml`) and returns Kong's status and body as they
// are: a scenario that expects the reload to be refused reads the 400.
func (g *Gateway) PostConfig(ctx context.Context, kongYAML string) (int, []byte, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("config", "kong.yml")
	if err != nil {
		return 0, nil, err
	}
	_, _ = io.WriteString(fw, kongYAML)
	_ = mw.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.admin+"/config", &body)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := g.hc.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("gateway reload: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated {
		g.lab.Record("config-rejected", "gateway", fmt.Sprintf("POST /config %d", resp.StatusCode))
		return resp.StatusCode, b, nil
	}
	g.mu.Lock()
	g.version++
	g.mu.Unlock()
	g.lab.Record("config-reloaded", "gateway", "POST /config 201")
	return resp.StatusCode, b, nil
}

// Admin GETs an admin API path ("/upstreams/api/health") and returns the body.
func (g *Gateway) Admin(ctx context.Context, path string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.admin+path, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := g.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, b, err
}
