package load

import (
	"crypto/tls"
	"net/http"
	"net/url"
	"time"
)

// Defaults and caps. A lab load test is bounded: it never runs away.
const (
	DefaultMaxRate     = 5000.0
	DefaultMaxDuration = 60 * time.Second
	DefaultTimeout     = 10 * time.Second
	DefaultBodyBytes   = 512
)

// DefaultHeaders are the response headers recorded unless WithHeaders says
// otherwise: Kong's latency and rate-limit headers and the lab's own.
var DefaultHeaders = []string{
	"X-Kong-Upstream-Latency", "X-Kong-Proxy-Latency", "X-Kong-Response-Latency", "X-Kong-Request-Id",
	"Retry-After", "X-RateLimit-Limit-Second", "X-RateLimit-Remaining-Second",
	"X-RateLimit-Limit-Minute", "X-RateLimit-Remaining-Minute",
	"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset",
	"WWW-Authenticate", "Content-Type", "Via", "X-Upstream-Name", "X-Client-Cert",
	"X-Creds-Duration", "X-Dependency-Duration",
}

type config struct {
	maxRate     float64
	maxDuration time.Duration
	timeout     time.Duration
	headers     []string
	bodyBytes   int64
	allowHosts  map[string]bool
	proxy       *url.URL
	tls         *tls.Config
	keepAlive   bool
	connections int
	workers     uint64
	name        string
	onResult    func(Result)
	http2       bool
	maxWorkers  uint64
	wrap        func(http.RoundTripper) http.RoundTripper
}

func defaults() config {
	return config{maxRate: DefaultMaxRate, maxDuration: DefaultMaxDuration, timeout: DefaultTimeout,
		headers: DefaultHeaders, bodyBytes: DefaultBodyBytes, keepAlive: true,
		connections: 10000, workers: 10, allowHosts: map[string]bool{}}
}

// Option configures a run.
type Option func(*config)

// WithMaxRate raises or lowers the rate cap (requests per second).
func WithMaxRate(r float64) Option { return func(c *config) { c.maxRate = r } }

// WithMaxDuration raises or lowers the duration cap.
func WithMaxDuration(d time.Duration) Option { return func(c *config) { c.maxDuration = d } }

// WithTimeout is the per-request timeout.
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithHeaders sets which response headers are recorded.
func WithHeaders(names ...string) Option { return func(c *config) { c.headers = names } }

// WithBody records up to n bytes of each body (0 records none).
func WithBody(n int64) Option { return func(c *config) { c.bodyBytes = n } }

// WithAllowHost allows a non-loopback target host. Lab runs never need it.
func WithAllowHost(host string) Option { return func(c *config) { c.allowHosts[host] = true } }

// WithProxy sends requests through a forward proxy. vegeta's default proxy
// comes from the environment, which skips loopback; a lab that tests a local
// TLS-inspecting proxy must set it explicitly.
func WithProxy(u *url.URL) Option { return func(c *config) { c.proxy = u } }

// WithTLSConfig sets the client's TLS config (roots, client certificates).
func WithTLSConfig(t *tls.Config) Option { return func(c *config) { c.tls = t } }

// WithKeepAlive turns connection reuse on (default) or off. Off makes every
// request pay dns+connect+tls, which is what a handshake comparison needs.
func WithKeepAlive(on bool) Option { return func(c *config) { c.keepAlive = on } }

// WithWorkers sets the initial number of workers (vegeta adds more as needed).
func WithWorkers(n uint64) Option { return func(c *config) { c.workers = n } }

// WithMaxWorkers caps the workers (concurrency); 0 means vegeta's default.
func WithMaxWorkers(n uint64) Option { return func(c *config) { c.maxWorkers = n } }

// WithName labels the attack (vegeta's X-Vegeta-Attack header).
func WithName(n string) Option { return func(c *config) { c.name = n } }

// WithOnResult streams each result as it arrives (live views, early stops).
func WithOnResult(f func(Result)) Option { return func(c *config) { c.onResult = f } }

// WithTransport wraps the HTTP transport, inside the recorder's tracing:
// a client that adds a bearer token, signs requests or caches credentials
// is measured exactly as the load sees it.
func WithTransport(wrap func(http.RoundTripper) http.RoundTripper) Option {
	return func(c *config) { c.wrap = wrap }
}

// WithHTTP2 lets the client negotiate HTTP/2 over TLS.
func WithHTTP2(on bool) Option { return func(c *config) { c.http2 = on } }
