// Package mitm is the lab's corporate proxy: an HTTP forward proxy that
// answers CONNECT either by inspecting the TLS inside (terminating it with a
// certificate minted for the host and signed by its own root CA, then
// opening its own verified TLS connection to the server) or by tunnelling
// it untouched, per host. Plain http:// requests are proxied too.
//
// It is written on net/http and crypto/tls rather than
// github.com/elazarl/goproxy: goproxy neither tracks the connections it
// hijacks (Close could not end them) nor surfaces the upstream verification
// result per connection, and both are the point of this fake.
package mitm

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chaoslab/chaoslab/fakes/pki"
	"github.com/chaoslab/chaoslab/internal/loopback"

	"github.com/chaoslab/chaoslab/internal/recent"
)

// CAFileName is the proxy root CA PEM written in Config.Dir.
const CAFileName = "mitm-ca.pem"

// handshakeTimeout bounds each TLS handshake the proxy takes part in, so a
// silent peer cannot pin a connection forever.
const handshakeTimeout = 10 * time.Second

// Proxy is a running forward proxy.
type Proxy struct {
	cfg           Config
	ln            net.Listener
	srv           *http.Server
	url           string
	ca            *pki.CA
	caPath        string
	files         *pki.Files
	tmpDir        string
	upstreamRoots *x509.CertPool
	clientCert    *tls.Certificate
	dialer        net.Dialer
	dial          func(ctx context.Context, network, addr string) (net.Conn, error) // dialer behind the loopback rule
	plain         *httputil.ReverseProxy
	transport     *http.Transport
	certs         *certCache

	ctx    context.Context // cancelled on Close: aborts dials and handshakes
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
	logs   recent.Log[ConnLog]
	nextID atomic.Int64

	closeOnce sync.Once
	closeErr  error
}

// Start listens and serves; the proxy is ready when Start returns.
func Start(ctx context.Context, cfg Config) (_ *Proxy, err error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Proxy{cfg: cfg, conns: map[net.Conn]struct{}{}, logs: recent.Log[ConnLog]{Max: maxLog}}
	if p.upstreamRoots, err = upstreamRoots(cfg); err != nil {
		return nil, err
	}
	if p.clientCert, err = clientCert(cfg); err != nil {
		return nil, err
	}
	if p.ca, err = pki.NewRoot("chaoslab mitm root CA"); err != nil {
		return nil, err
	}
	p.certs = newCertCache(p.ca)
	if err := p.writeCA(); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			p.removeFiles()
		}
	}()
	var lc net.ListenConfig
	if p.ln, err = lc.Listen(ctx, "tcp", cfg.Listen); err != nil {
		return nil, fmt.Errorf("--listen %s: %w", cfg.Listen, err)
	}
	p.url = "http://" + p.ln.Addr().String()
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.dial = loopback.Dial(&p.dialer, func(string) bool { return cfg.AllowNonLoopback })
	p.transport = &http.Transport{
		Proxy:                 nil, // never chain to the environment's proxy
		DialContext:           p.dial,
		ResponseHeaderTimeout: time.Minute,
		IdleConnTimeout:       30 * time.Second,
	}
	p.plain = &httputil.ReverseProxy{
		// The absolute-form request already names the origin; keep it.
		Rewrite:      func(*httputil.ProxyRequest) {},
		Transport:    p.transport,
		ErrorHandler: p.plainError,
		ErrorLog:     discardLogger(),
	}
	p.srv = &http.Server{
		Handler:           p,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          discardLogger(),
	}
	go func() { _ = p.srv.Serve(p.ln) }()
	return p, nil
}

func upstreamRoots(cfg Config) (*x509.CertPool, error) {
	if cfg.UpstreamCAFile == "" {
		return cfg.UpstreamRoots, nil // nil: system roots
	}
	pem, err := os.ReadFile(cfg.UpstreamCAFile)
	if err != nil {
		return nil, fmt.Errorf("--upstream-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if cfg.UpstreamRoots != nil {
		pool = cfg.UpstreamRoots.Clone()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--upstream-ca: %s: no PEM certificate found", cfg.UpstreamCAFile)
	}
	return pool, nil
}

func clientCert(cfg Config) (*tls.Certificate, error) {
	if cfg.ClientCertFile == "" {
		return cfg.ClientCert, nil
	}
	c, err := tls.LoadX509KeyPair(cfg.ClientCertFile, cfg.ClientKeyFile)
	if err != nil {
		return nil, fmt.Errorf("--client-cert: %w", err)
	}
	return &c, nil
}

func (p *Proxy) writeCA() error {
	dir := p.cfg.Dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "chaoslab-mitm-")
		if err != nil {
			return fmt.Errorf("--dir: %w", err)
		}
		p.tmpDir, dir = tmp, tmp
	}
	files, err := pki.NewFiles(dir)
	if err != nil {
		p.removeFiles()
		return fmt.Errorf("--dir: %w", err)
	}
	p.files = files
	if p.caPath, err = files.WriteCA(CAFileName, p.ca); err != nil {
		p.removeFiles()
		return fmt.Errorf("--dir: %w", err)
	}
	return nil
}

func (p *Proxy) removeFiles() {
	_ = p.files.Remove()
	if p.tmpDir != "" {
		_ = os.RemoveAll(p.tmpDir)
	}
}

// URL is the proxy URL clients are configured with (http://127.0.0.1:P).
func (p *Proxy) URL() string { return p.url }

// Addr is host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// CA is the proxy's root: the issuer of every certificate it mints.
func (p *Proxy) CA() *x509.Certificate { return p.ca.Cert }

// CAPath is the proxy root CA PEM file: what a client must trust (curl
// --cacert) to accept inspected connections.
func (p *Proxy) CAPath() string { return p.caPath }

// Info lines for the CLI.
func (p *Proxy) Info() map[string]string { return map[string]string{"ca": p.caPath} }

// maxLog bounds the connection log; like the other fakes' logs it is
// evidence, not an archive.
const maxLog = 10000

// Connections returns a copy of the connection log (the last 10,000
// connections: a lab inspecting 50 a second for hours keeps bounded memory),
// oldest first.
func (p *Proxy) Connections() []ConnLog {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.All()
}

// LogLines is the connection log as text lines.
func (p *Proxy) LogLines() []string {
	var out []string
	for _, l := range p.Connections() {
		out = append(out, l.String())
	}
	return out
}

func (p *Proxy) record(l ConnLog) {
	l.Time = time.Now()
	p.mu.Lock()
	p.logs.Add(l)
	w := p.cfg.LogWriter
	p.mu.Unlock()
	if w != nil {
		_, _ = io.WriteString(w, l.String()+"\n")
	}
}

// amend updates an entry already recorded (inspected connections learn
// more after their handshake) and logs the change as its own line.
func (p *Proxy) amend(id int64, change func(*ConnLog), line string) {
	p.mu.Lock()
	p.logs.Newest(func(l *ConnLog) bool {
		if l.ID != id {
			return false
		}
		change(l)
		return true
	})
	w := p.cfg.LogWriter
	p.mu.Unlock()
	if w != nil && line != "" {
		_, _ = fmt.Fprintf(w, "mitm conn=%d %s\n", id, line)
	}
}

// begin registers a handler that outlives the http.Server's bookkeeping
// (hijacked CONNECTs) so Close can wait for it; false once closing.
func (p *Proxy) begin() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.wg.Add(1)
	return true
}

// track registers a connection Close must close; false (and the connection
// closed) once closing.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		_ = c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	_ = c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// Close stops the proxy: the listener, every connection it relays, every
// goroutine, and the CA file. Idempotent.
func (p *Proxy) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		conns := p.conns
		p.conns = map[net.Conn]struct{}{}
		p.mu.Unlock()
		p.cancel()
		err := p.srv.Close()
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		for c := range conns {
			_ = c.Close()
		}
		p.wg.Wait()
		p.transport.CloseIdleConnections()
		p.removeFiles()
		p.closeErr = err
	})
	return p.closeErr
}

// ServeHTTP dispatches CONNECT, absolute-form http:// requests, and a
// convenience GET /ca.pem for trainees (like mitmproxy's mitm.it).
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !p.begin() {
		http.Error(w, "chaoslab mitm: shutting down", http.StatusServiceUnavailable)
		return
	}
	defer p.wg.Done()
	switch {
	case r.Method == http.MethodConnect:
		p.serveConnect(w, r)
	case r.URL.IsAbs():
		p.servePlain(w, r)
	case r.URL.Path == "/ca.pem":
		w.Header().Set("Content-Type", "application/x-pem-file")
		http.ServeFile(w, r, p.caPath)
	default:
		http.Error(w, "chaoslab mitm: this is a forward proxy; send CONNECT or an absolute http:// URL (CA at /ca.pem)", http.StatusBadRequest)
	}
}
