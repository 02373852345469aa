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
	"sort"
	"strings"
	"sync"
	"time"
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

// GatewayOptions configure the gateway.
type GatewayOptions struct {
	// Hosts resolve names for the gateway (service hosts, upstream targets)
	// without any DNS query leaving the machine: name -> IP.
	Hosts map[string]string
	// DNS, when set, is a host:port DNS server the gateway resolves through
	// (the lab's fake DNS).
	DNS string
}

// GatewayStarter is implemented by backends that run the gateway their own
// way (docker: real Kong when the image is there). Others run the
// registered "gateway" fake.
type GatewayStarter interface {
	StartGateway(ctx context.Context, configPath string, o GatewayOptions) (svc Service, kind string, err error)
}

// Gateway starts the gateway with a kong.yml. The config is written to the
// lab's directory; a bad config is an error naming the entity and field.
func (l *Lab) Gateway(ctx context.Context, kongYAML string, o GatewayOptions) (*Gateway, error) {
	if err := l.checkOpen(); err != nil {
		return nil, err
	}
	path := filepath.Join(l.dir, "kong.yml")
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
	} else if hostKongSelected(l.backend) {
		svc, kind, err = startHostKong(ctx, l, path, o) // GATEWAY=kong (gateway_kong.go)
	} else {
		svc, err = l.backend.StartFake(ctx, "gateway", GatewayArgs(path, o))
	}
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	l.onClose("gateway", svc.Close)
	g := &Gateway{svc: svc, kind: kind, admin: InfoValue(svc, "admin"), lab: l,
		hc: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}}
	l.onClose("gateway admin client", func() error { g.hc.CloseIdleConnections(); return nil })
	if g.admin == "" {
		return nil, fmt.Errorf("gateway: no admin URL in its output %v", svc.Info())
	}
	l.Record("started", "gateway", kind+" proxy "+svc.URL()+" admin "+g.admin)
	return g, nil
}

// GatewayArgs are the `chaoslab gateway` flags for a config and options.
func GatewayArgs(configPath string, o GatewayOptions) []string {
	args := []string{"--config", configPath, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"}
	if len(o.Hosts) > 0 {
		names := make([]string, 0, len(o.Hosts))
		for n := range o.Hosts {
			names = append(names, n)
		}
		sort.Strings(names)
		var kv []string
		for _, n := range names {
			kv = append(kv, n+"="+o.Hosts[n])
		}
		args = append(args, "--hosts", strings.Join(kv, ","))
	}
	if o.DNS != "" {
		args = append(args, "--dns", o.DNS)
	}
	return args
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
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("config", "kong.yml")
	if err != nil {
		return err
	}
	_, _ = io.WriteString(fw, kongYAML)
	_ = mw.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.admin+"/config", &body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := g.hc.Do(req)
	if err != nil {
		return fmt.Errorf("gateway reload: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("gateway reload: %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	g.mu.Lock()
	g.version++
	g.mu.Unlock()
	g.lab.Record("config-reloaded", "gateway", "POST /config 201")
	return nil
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
