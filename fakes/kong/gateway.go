// Package kong is chaoslab's Kong-compatible gateway: a Go reverse proxy
// that behaves like Kong 3.9 in DB-less mode for the features the lab's
// incidents need, configured by the same kong.yml. Trainees curl it as if
// it were Kong and scenarios assert on its exact statuses, bodies, headers
// and nginx error-log lines (see shared/facts/kong.md).
//
// What it emulates: services (timeouts, retries with nginx's rules, https
// with tls_verify and ca_certificates), routes (prefix and regex paths,
// hosts, methods, headers, strip_path, preserve_host), upstreams with
// weighted round robin and active/passive health checks, the plugins
// key-auth, jwt, rate-limiting (local, and redis against a real Redis),
// correlation-id, request-termination
// and pre-function (ngx.sleep only), Kong's error bodies and latency headers, and an Admin
// API subset with POST /config.
//
// Not emulated (validation says so where a config asks for it): protocols
// other than http/https (grpc, tcp, ws), the expressions router,
// consumer-scoped plugins and plugins other than the six above, Admin API
// writes other than POST /config, and load-balancing algorithms other than
// round robin (least-connections and the hashing ones are accepted and
// balanced round robin). Status lines carry Go's reason phrases ("504
// Gateway Timeout"), not nginx's ("504 Gateway Time-out").
//
// Where things are, by file name: kong.yml loading and validation (entities,
// defaults, Kong's field errors, each plugin's config schema) is the package
// internal/config; gateway*.go start, reload and log; proxy*.go route,
// connect, retry and answer like nginx/Kong; balancer*.go are upstreams,
// health checks and name resolution; plugin_<name>.go is one plugin at run
// time; admin*.go the Admin API; register.go the CLI flags.
package kong

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chaoslab/chaoslab/fakes/kong/internal/config"
)

// Options configures a gateway.
type Options struct {
	// ProxyListen and AdminListen default to 127.0.0.1:0.
	ProxyListen, AdminListen string
	// Config is the declarative configuration (kong.yml, YAML or JSON).
	Config []byte
	// resolver resolves service and target host names other than IP
	// literals and localhost. Default: a staticResolver that fails every
	// name. The emulation never uses the system resolver.
	resolver hostResolver
	// ErrorLog and AccessLog receive every log line as written (the CLI
	// passes stderr and stdout, like KONG_PROXY_ERROR_LOG=/dev/stderr).
	ErrorLog, AccessLog io.Writer
	// AllowNonLoopback lets the gateway connect to upstreams off loopback
	// (a containerised lab). Off by default: lab traffic stays local.
	AllowNonLoopback bool
	// TrustedIPs is kong.conf's trusted_ips (IPs and CIDRs): peers whose
	// X-Forwarded-Proto/-Host/-Port/-Path/-Prefix Kong believes.
	TrustedIPs []string
}

// Gateway is a running Kong emulation.
type Gateway struct {
	opts     Options
	resolver *cachingResolver
	rt       atomic.Pointer[liveConfig]
	reloadMu sync.Mutex
	loading  atomic.Bool

	proxyLn, adminLn   net.Listener
	trusted            []netip.Prefix
	proxySrv, adminSrv *http.Server
	proxyURL, adminURL string

	errLog *errorLog
	accLog *accessLog
	// redisPools are the rate-limiting redis policy's connections.
	redisPools redisPools

	connSeq     atomic.Uint64
	connsActive atomic.Int64
	inflight    atomic.Int64
	requests    atomic.Uint64
	nodeID      string
	startedAt   time.Time

	ctx       context.Context
	cancel    context.CancelFunc
	serveWG   sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

type connIDKey struct{}

// Start validates the configuration, binds both listeners and serves. The
// gateway is ready when Start returns.
func Start(ctx context.Context, o Options) (*Gateway, error) {
	cfg, err := config.Parse(o.Config)
	if err != nil {
		return nil, err
	}
	trusted, err := parseTrustedIPs(o.TrustedIPs)
	if err != nil {
		return nil, err
	}
	if o.ProxyListen == "" {
		o.ProxyListen = "127.0.0.1:0"
	}
	if o.AdminListen == "" {
		o.AdminListen = "127.0.0.1:0"
	}
	g := &Gateway{
		opts:      o,
		resolver:  newCachingResolver(o.resolver),
		errLog:    newErrorLog(o.ErrorLog),
		accLog:    &accessLog{sink: o.AccessLog},
		nodeID:    newUUID(),
		trusted:   trusted,
		startedAt: time.Now(),
	}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	var lc net.ListenConfig
	if g.proxyLn, err = lc.Listen(ctx, "tcp", o.ProxyListen); err != nil {
		g.cancel()
		return nil, fmt.Errorf("proxy listen %s: %w", o.ProxyListen, err)
	}
	if g.adminLn, err = lc.Listen(ctx, "tcp", o.AdminListen); err != nil {
		g.proxyLn.Close()
		g.cancel()
		return nil, fmt.Errorf("admin listen %s: %w", o.AdminListen, err)
	}
	g.proxyURL = "http://" + g.proxyLn.Addr().String()
	g.adminURL = "http://" + g.adminLn.Addr().String()

	rt := g.compile(cfg)
	g.rt.Store(rt)
	rt.start(g.ctx, g)

	g.proxySrv = &http.Server{
		Handler:           http.HandlerFunc(g.serveProxy),
		ReadHeaderTimeout: 60 * time.Second, // nginx's client_header_timeout
		IdleTimeout:       75 * time.Second, // nginx's keepalive_timeout
		ErrorLog:          discardLogger(),
		ConnContext: func(ctx context.Context, _ net.Conn) context.Context {
			return context.WithValue(ctx, connIDKey{}, g.connSeq.Add(1))
		},
		ConnState: g.trackConn,
	}
	g.adminSrv = &http.Server{
		Handler:           http.HandlerFunc(g.serveAdmin),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          discardLogger(),
	}
	g.serveWG.Add(2)
	go func() { defer g.serveWG.Done(); g.proxySrv.Serve(badRequestListener{g.proxyLn}) }()
	go func() { defer g.serveWG.Done(); g.adminSrv.Serve(g.adminLn) }()
	return g, nil
}

func (g *Gateway) trackConn(_ net.Conn, s http.ConnState) {
	switch s {
	case http.StateNew:
		g.connsActive.Add(1)
	case http.StateClosed, http.StateHijacked:
		g.connsActive.Add(-1)
	}
}

// ProxyURL is the proxy listener, "http://127.0.0.1:PORT".
func (g *Gateway) ProxyURL() string { return g.proxyURL }

// AdminURL is the Admin API listener.
func (g *Gateway) AdminURL() string { return g.adminURL }

// URL is ProxyURL (fakes.Server).
func (g *Gateway) URL() string { return g.proxyURL }

// Info is the CLI's extra line (fakes.Server).
func (g *Gateway) Info() map[string]string { return map[string]string{"admin": g.adminURL} }

// current is the configuration being served.
func (g *Gateway) current() *config.Config { return g.rt.Load().cfg }

// reload replaces the configuration like Admin API POST /config. On a
// validation error it keeps serving the old configuration and returns the
// *config.Error.
func (g *Gateway) reload(ctx context.Context, kongYML []byte) error {
	cfg, err := config.Parse(kongYML)
	if err != nil {
		return err
	}
	g.swap(cfg)
	return nil
}

func (g *Gateway) swap(cfg *config.Config) {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	if g.ctx.Err() != nil {
		return
	}
	rt := g.compile(cfg)
	old := g.rt.Swap(rt)
	rt.start(g.ctx, g)
	old.stop()
}

// errorLines returns the nginx-format error.log lines so far.
func (g *Gateway) errorLines() []string { return g.errLog.snapshot() }

// accessEntries returns the access log entries so far.
func (g *Gateway) accessEntries() []accessEntry { return g.accLog.snapshot() }

// upstreamHealth is what GET /upstreams/{name}/health reports.
func (g *Gateway) upstreamHealth(name string) ([]targetHealth, bool) {
	b := g.rt.Load().upstreams[name]
	if b == nil {
		return nil, false
	}
	return b.health(), true
}

// Close stops both listeners, the health checkers and every idle upstream
// connection. It is idempotent.
func (g *Gateway) Close() error {
	g.closeOnce.Do(func() {
		g.cancel()
		// A short grace for requests in flight, then cut the rest: a lab
		// tears down fast even with requests hanging on a dead upstream.
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if err := g.proxySrv.Shutdown(ctx); err != nil {
			g.proxySrv.Close()
		}
		if err := g.adminSrv.Shutdown(ctx); err != nil {
			g.adminSrv.Close()
		}
		g.serveWG.Wait()
		// Handlers outlive Server.Close; their contexts are cancelled, so
		// they return promptly. Wait for them so no goroutine survives.
		deadline := time.Now().Add(5 * time.Second)
		for g.inflight.Load() > 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		g.reloadMu.Lock()
		g.rt.Load().stop()
		g.reloadMu.Unlock()
		g.redisPools.close()
	})
	return g.closeErr
}
