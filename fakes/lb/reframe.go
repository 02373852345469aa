package lb

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
)

// The re-framing incident: an LB that buffers a request body (chunked from
// the client) and forwards it with a Content-Length it computed wrong, here
// ReframeShort bytes short, while still writing the whole body. The gateway
// reads Content-Length bytes, proxies a truncated body, and takes the rest
// as the start of the next request on that keep-alive connection: that
// request, someone else's, fails with 400 Bad Request.
//
// net/http's Transport refuses to write a body longer than its
// Content-Length, so while the policy is on the hop forwards through its
// own small connection pool (rawPool) and writes the bytes itself. The most
// recently used connection is reused first, as the poisoned one would be.

type rawPool struct {
	mu     sync.Mutex
	idle   []*rawConn
	closed bool
}

type rawConn struct {
	net.Conn
	br *bufio.Reader
}

func (p *rawPool) get(ctx context.Context, s *Server) (*rawConn, error) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		c := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return c, nil
	}
	p.mu.Unlock()
	nc, err := s.dialer.DialContext(ctx, "tcp", s.backend.Host)
	if err != nil {
		return nil, err
	}
	return &rawConn{Conn: nc, br: bufio.NewReader(nc)}, nil
}

func (p *rawPool) put(c *rawConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || len(p.idle) >= 64 {
		c.Close()
		return
	}
	p.idle = append(p.idle, c)
}

// closeIdle closes the idle connections; ones in use are closed when their
// response ends.
func (p *rawPool) closeIdle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, c := range p.idle {
		c.Close()
	}
	p.idle = nil
}

// roundTrip writes r with a Content-Length short bytes below its body's
// length, then the whole body, and reads the answer.
func (p *rawPool) roundTrip(s *Server, r *http.Request, short int) (*http.Response, error) {
	body, err := bufferBody(r, "re-framed")
	if err != nil {
		return nil, err
	}
	c, err := p.get(r.Context(), s)
	if err != nil {
		return nil, err
	}
	// A request given up (client gone, try timed out) closes its connection.
	stop := context.AfterFunc(r.Context(), func() { c.Close() })
	fail := func(err error) (*http.Response, error) {
		stop()
		c.Close()
		return nil, err
	}
	bw := bufio.NewWriter(c)
	fmt.Fprintf(bw, "%s %s HTTP/1.1\r\nHost: %s\r\n", r.Method, r.URL.RequestURI(), r.Host)
	h := r.Header.Clone()
	for _, k := range []string{"Host", "Content-Length", "Transfer-Encoding", "Connection"} {
		h.Del(k)
	}
	if err := h.Write(bw); err != nil {
		return fail(err)
	}
	if body != nil {
		declared := len(body) - short
		if declared < 0 {
			declared = 0
		}
		if declared != len(body) {
			s.extra.reframed.Add(1)
		}
		bw.WriteString("Content-Length: " + strconv.Itoa(declared) + "\r\n")
	}
	bw.WriteString("\r\n")
	bw.Write(body)
	if err := bw.Flush(); err != nil {
		return fail(err)
	}
	resp, err := http.ReadResponse(c.br, r)
	if err != nil {
		return fail(err)
	}
	resp.Body = &rawBody{ReadCloser: resp.Body, c: c, pool: p, keep: !resp.Close, stop: stop}
	return resp, nil
}

// rawBody gives the connection back when the body was read to the end and
// the backend keeps it open; otherwise it closes it.
type rawBody struct {
	io.ReadCloser
	c    *rawConn
	pool *rawPool
	keep bool
	stop func() bool
	once sync.Once
	eof  bool
}

func (b *rawBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.eof = true
		b.release()
	}
	return n, err
}

func (b *rawBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}

func (b *rawBody) release() {
	b.once.Do(func() {
		if b.stop() && b.keep && b.eof {
			b.pool.put(b.c)
			return
		}
		b.c.Close()
	})
}
