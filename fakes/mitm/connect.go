package mitm

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"

	"github.com/chaoslab/chaoslab/internal/loopback"
)

// serveConnect answers a CONNECT: it dials the target first (so an
// unreachable server is a 502 on the CONNECT itself, as real proxies do),
// then hijacks the client connection and tunnels or inspects it.
func (p *Proxy) serveConnect(w http.ResponseWriter, r *http.Request) {
	target := r.Host
	if _, _, err := net.SplitHostPort(target); err != nil {
		target = net.JoinHostPort(target, "443")
	}
	entry := ConnLog{ID: p.nextID.Add(1), Client: r.RemoteAddr, Host: target, Mode: LogInspect}
	if p.cfg.Mode == Tunnel {
		entry.Mode = LogTunnel
	} else if p.cfg.bypassed(target) {
		entry.Mode, entry.Bypassed = LogTunnel, true
	}
	up, err := p.dial(p.ctx, "tcp", target)
	if err != nil {
		entry.UpstreamVerify = "dial: " + err.Error()
		p.record(entry)
		w.Header().Set("Proxy-Status", proxyStatus(err))
		http.Error(w, fmt.Sprintf("chaoslab mitm: CONNECT %s: %v", target, err), http.StatusBadGateway)
		return
	}
	if !p.track(up) {
		return
	}
	defer p.untrack(up)
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "chaoslab mitm: cannot hijack connection", http.StatusInternalServerError)
		return
	}
	raw, brw, err := hj.Hijack()
	if err != nil {
		return
	}
	if !p.track(raw) {
		return
	}
	defer p.untrack(raw)
	// A client may send its ClientHello without waiting for our answer;
	// those bytes sit in the server's read buffer.
	client := net.Conn(&bufferedConn{Conn: raw, r: brw.Reader})
	if _, err := io.WriteString(raw, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	if entry.Mode == LogTunnel {
		p.record(entry)
		p.pipe(client, up)
		return
	}
	p.inspect(client, up, target, entry)
}

// proxyStatus is the Proxy-Status (RFC 9209) of a failed dial.
func proxyStatus(err error) string {
	if errors.Is(err, loopback.ErrNotLoopback) {
		return "chaoslab-mitm; error=destination_ip_prohibited"
	}
	return "chaoslab-mitm; error=destination_unavailable"
}

// pipe copies both ways until either side ends, then closes both so the
// other copy ends too.
func (p *Proxy) pipe(a, b net.Conn) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = io.Copy(b, a)
		_ = b.Close()
		_ = a.Close()
	}()
	_, _ = io.Copy(a, b)
	_ = a.Close()
	_ = b.Close()
	wg.Wait()
}

type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }
