package kong

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/chaoslab/chaoslab/fakes/kong/internal/config"
)

// liveConfig is one loaded configuration: the router, a transport per
// service, a balancer per upstream, each route's plugin chain and the
// credential indexes. reload builds a new one and swaps it in atomically;
// requests in flight finish on the one they started with.
type liveConfig struct {
	cfg       *config.Config
	router    *router
	services  map[*config.Service]*serviceRuntime
	upstreams map[string]*balancer // by name
	chains    map[*config.Route][]pluginInstance
	keyAuth   map[string]*config.KeyAuthCredential
	jwt       map[string]*config.JWTSecret
}

type serviceRuntime struct {
	svc      *config.Service
	pool     *connPool
	balancer *balancer // when the host names an upstream
	scheme   string
	tries    int
	// staticPeers is "ip:port" when the host is an IP literal or localhost:
	// nothing to resolve per request.
	staticPeers []string
}

type pluginInstance struct {
	p        *config.Plugin
	priority int
	impl     plugin
}

func (g *Gateway) compile(cfg *config.Config) *liveConfig {
	rt := &liveConfig{
		cfg:       cfg,
		router:    newRouter(cfg.Routes),
		services:  map[*config.Service]*serviceRuntime{},
		upstreams: map[string]*balancer{},
		chains:    map[*config.Route][]pluginInstance{},
		keyAuth:   map[string]*config.KeyAuthCredential{},
		jwt:       map[string]*config.JWTSecret{},
	}
	for _, u := range cfg.Upstreams {
		rt.upstreams[u.Name] = newBalancer(u, g.resolver, func(msg string) { g.errLog.log("warn", nil, msg) })
	}
	cas := map[string]*x509.Certificate{}
	for _, c := range cfg.CACertificates {
		cas[c.ID] = c.X509()
	}
	for _, s := range cfg.Services {
		d := &upstreamDialer{
			connectTimeout:   ms(s.ConnectTimeout),
			writeTimeout:     ms(s.WriteTimeout),
			allowNonLoopback: g.opts.AllowNonLoopback,
		}
		scheme := "http"
		if s.Protocol == "https" {
			scheme = "https"
			d.tls = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}
			if s.TLSVerify != nil && *s.TLSVerify {
				d.verify = true
				d.roots = x509.NewCertPool()
				for _, id := range s.CACertificates {
					if c := cas[id]; c != nil {
						d.roots.AddCert(c)
					}
				}
				if s.TLSVerifyDepth != nil {
					d.verifyDepth = *s.TLSVerifyDepth
				}
			}
		}
		var static []string
		if rt.upstreams[s.Host] == nil {
			if ip := literalIP(s.Host); ip != "" {
				static = []string{net.JoinHostPort(ip, strconv.Itoa(s.Port))}
			}
		}
		rt.services[s] = &serviceRuntime{
			staticPeers: static,
			svc:         s,
			pool:        newConnPool(d, ms(s.ReadTimeout)),
			balancer:    rt.upstreams[s.Host],
			scheme:      scheme,
			tries:       s.Retries + 1,
		}
	}
	for _, c := range cfg.Consumers {
		for _, k := range c.KeyAuthCredentials {
			rt.keyAuth[k.Key] = k
		}
		for _, j := range c.JWTSecrets {
			rt.jwt[j.Key] = j
		}
	}
	instances := map[*config.Plugin]plugin{}
	for _, p := range cfg.Plugins {
		if p.Enabled {
			instances[p] = builders[p.Name](p.Config)
			if sc, ok := instances[p].(scoped); ok {
				sc.setScope(p)
			}
		}
	}
	for _, r := range cfg.Routes {
		rt.chains[r] = chainFor(r, cfg.Plugins, instances)
	}
	return rt
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// chainFor picks, per plugin name, the most specific enabled instance for
// a route (route, then service, then global, as Kong's plugin iterator
// does) and orders them by Kong's plugin priorities.
func chainFor(r *config.Route, plugins []*config.Plugin, instances map[*config.Plugin]plugin) []pluginInstance {
	best := map[string]*config.Plugin{}
	rank := func(p *config.Plugin) int {
		switch {
		case p.Route != nil:
			return 3
		case p.Service != nil:
			return 2
		default:
			return 1
		}
	}
	for _, p := range plugins {
		if !p.Enabled {
			continue
		}
		if p.Route != nil && p.Route != r {
			continue
		}
		if p.Service != nil && p.Service != r.Service {
			continue
		}
		if cur := best[p.Name]; cur == nil || rank(p) > rank(cur) {
			best[p.Name] = p
		}
	}
	chain := make([]pluginInstance, 0, len(best))
	for name, p := range best {
		chain = append(chain, pluginInstance{p: p, priority: config.PluginPriority(name), impl: instances[p]})
	}
	sort.Slice(chain, func(i, j int) bool { return chain[i].priority > chain[j].priority })
	return chain
}

// start launches the active health checkers.
func (rt *liveConfig) start(ctx context.Context, g *Gateway) {
	for _, b := range rt.upstreams {
		if b.activeOn {
			b.startActive(ctx, g)
		}
	}
}

// stop ends health checks and drops idle upstream connections.
func (rt *liveConfig) stop() {
	for _, b := range rt.upstreams {
		b.stopActive()
	}
	for _, s := range rt.services {
		s.pool.closeIdle()
	}
}

// entityName is how logs name an entity: its name, else its id.
func entityName(name, id string) string {
	if name != "" {
		return name
	}
	return id
}

// literalIP is the address of an IP literal or localhost, "" for a name
// that needs resolving.
func literalIP(host string) string {
	h := strings.Trim(host, "[]")
	if _, err := netip.ParseAddr(h); err == nil {
		return h
	}
	if strings.EqualFold(h, "localhost") {
		return "127.0.0.1"
	}
	return ""
}
