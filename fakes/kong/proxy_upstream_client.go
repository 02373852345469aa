package kong

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// connPool is one service's keep-alive pool of upstream connections, like
// Kong's upstream keepalive pool (512 idle per peer, 60s idle timeout,
// 10,000 requests per connection). The request is written and the response
// read by the calling goroutine itself: no reader/writer goroutines per
// connection as in http.Transport, which is what keeps the proxy path
// close to nginx's cost, and every error is known by phase (connect, send,
// read header) the way nginx logs it.
type connPool struct {
	d           *upstreamDialer
	readTimeout time.Duration

	mu     sync.Mutex
	idle   map[poolKey][]*upConn
	closed bool
}

type poolKey struct{ addr, sni string }

const (
	poolMaxIdle     = 512
	poolIdleTimeout = 60 * time.Second
	poolMaxRequests = 10000
)

func newConnPool(d *upstreamDialer, readTimeout time.Duration) *connPool {
	return &connPool{d: d, readTimeout: readTimeout, idle: map[poolKey][]*upConn{}}
}

// upConn is one upstream connection. Reads get read_timeout and writes
// write_timeout, nginx's meaning of both: the time between two successive
// operations, not the whole response. The wait for the response header is
// timed exactly from the end of the request; during the body the read
// deadline is re-armed once an eighth of the timeout has passed, which
// saves a timer update per read.
type upConn struct {
	conn         net.Conn
	raw          syscall.RawConn // the TCP socket, for the liveness peek
	br           *bufio.Reader
	bw           *bufio.Writer
	readTimeout  time.Duration
	writeTimeout time.Duration
	bytesRead    int64
	readArmed    time.Time // when the read deadline was last set
	requests     int
	idleSince    time.Time
	addr, sni    string
}

func (c *upConn) armRead(now time.Time) {
	c.readArmed = now
	c.conn.SetReadDeadline(now.Add(c.readTimeout))
}

func (c *upConn) Read(p []byte) (int, error) {
	if c.readTimeout > 0 {
		if now := time.Now(); now.Sub(c.readArmed) > c.readTimeout/8 {
			c.armRead(now)
		}
	}
	n, err := c.conn.Read(p)
	c.bytesRead += int64(n)
	return n, err
}

func (c *upConn) Write(p []byte) (int, error) {
	if c.writeTimeout > 0 {
		c.conn.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	}
	n, err := c.conn.Write(p)
	if err != nil {
		return n, &sendError{err: err}
	}
	return n, nil
}

// alive peeks at an idle connection without blocking: a closed or reset
// socket, or bytes nobody asked for, mean the upstream is done with it.
func (c *upConn) alive() bool {
	if c.br.Buffered() > 0 {
		return false
	}
	if c.raw == nil {
		return true
	}
	alive := false
	var b [1]byte
	err := c.raw.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		alive = err == syscall.EAGAIN
		return true
	})
	return err == nil && alive
}

// upstreamRequest is what the proxy sends to the upstream.
type upstreamRequest struct {
	method        string
	uri           string // path and query
	host          string // Host header
	writeHeaders  func(w *bufio.Writer)
	body          []byte
	stream        io.Reader // a body too large to buffer, when set
	contentLength int64     // of stream; -1 for unknown
}

// get returns an idle connection to addr, or dials one.
func (p *connPool) get(ctx context.Context, addr, sni string) (*upConn, bool, error) {
	key := poolKey{addr, sni}
	now := time.Now()
	for {
		p.mu.Lock()
		list := p.idle[key]
		if len(list) == 0 {
			p.mu.Unlock()
			break
		}
		c := list[len(list)-1]
		p.idle[key] = list[:len(list)-1]
		p.mu.Unlock()
		if now.Sub(c.idleSince) < poolIdleTimeout && c.alive() {
			return c, true, nil
		}
		c.conn.Close()
	}
	var nc net.Conn
	var err error
	if p.d.tls != nil {
		nc, err = p.d.dialTLS(withSNI(ctx, sni), "tcp", addr)
	} else {
		nc, err = p.d.dialRaw(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, false, err
	}
	c := &upConn{conn: nc, readTimeout: p.readTimeout, writeTimeout: p.d.writeTimeout, addr: addr, sni: sni}
	tcp := nc
	if tc, ok := nc.(*tls.Conn); ok {
		tcp = tc.NetConn()
	}
	if sc, ok := tcp.(syscall.Conn); ok {
		c.raw, _ = sc.SyscallConn()
	}
	c.br = bufio.NewReaderSize(c, 16<<10)
	c.bw = bufio.NewWriterSize(c, 16<<10)
	return c, false, nil
}

// put returns a connection whose response was read to the end.
func (p *connPool) put(c *upConn) {
	c.requests++
	if c.requests >= poolMaxRequests {
		c.conn.Close()
		return
	}
	c.idleSince = time.Now()
	key := poolKey{c.addr, c.sni}
	p.mu.Lock()
	if p.closed || len(p.idle[key]) >= poolMaxIdle {
		p.mu.Unlock()
		c.conn.Close()
		return
	}
	expired := p.expire(key, c.idleSince)
	p.idle[key] = append(p.idle[key], c)
	p.mu.Unlock()
	for _, e := range expired {
		e.conn.Close()
	}
}

// expire takes out of the pool the connections to key idle for
// poolIdleTimeout or longer and returns them to be closed. get takes the
// most recently used connection, so after a burst the extra ones sink to
// the front of the list and would otherwise stay open for as long as
// traffic continues; nginx closes each when its keepalive timer fires, so
// the pool shrinks back after a burst. The list is in idle order (put
// appends), so the expired ones are a prefix. p.mu is held.
func (p *connPool) expire(key poolKey, now time.Time) []*upConn {
	list := p.idle[key]
	n := 0
	for n < len(list) && now.Sub(list[n].idleSince) >= poolIdleTimeout {
		n++
	}
	if n == 0 {
		return nil
	}
	expired := append([]*upConn(nil), list[:n]...)
	p.idle[key] = append(list[:0:0], list[n:]...)
	return expired
}

// closeIdle closes every pooled connection; later puts close theirs.
func (p *connPool) closeIdle() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = map[poolKey][]*upConn{}
	p.mu.Unlock()
	for _, list := range idle {
		for _, c := range list {
			c.conn.Close()
		}
	}
}

// roundTrip sends req on a pooled or new connection and reads the response
// header. A reused connection that the upstream had already closed is
// replaced transparently for idempotent methods (as http.Transport and
// nginx's cached peers do); any other failure is the try's failure.
func (p *connPool) roundTrip(ctx context.Context, addr, sni string, req *upstreamRequest, cur *currentConn) (*http.Response, *upConn, error) {
	for attempt := 0; ; attempt++ {
		c, reused, err := p.get(ctx, addr, sni)
		if err != nil {
			return nil, nil, err
		}
		if !cur.set(c) {
			c.conn.Close()
			return nil, nil, ctx.Err()
		}
		resp, err := c.do(ctx, req)
		if err == nil {
			return resp, c, nil
		}
		c.conn.Close()
		if reused && c.bytesRead == 0 && attempt < 2 && req.stream == nil && !nonIdempotent(req.method) && !isTimeout(err) && ctx.Err() == nil {
			continue
		}
		return nil, nil, err
	}
}

// do writes the request and reads the response header (skipping 1xx).
func (c *upConn) do(ctx context.Context, req *upstreamRequest) (*http.Response, error) {
	c.bytesRead = 0
	bw := c.bw
	bw.WriteString(req.method)
	bw.WriteByte(' ')
	bw.WriteString(req.uri)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(req.host)
	bw.WriteString("\r\nConnection: keep-alive\r\n")
	req.writeHeaders(bw)
	chunked := false
	switch {
	case req.stream != nil && req.contentLength >= 0:
		bw.WriteString("Content-Length: " + strconv.FormatInt(req.contentLength, 10) + "\r\n")
	case req.stream != nil:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
		chunked = true
	case len(req.body) > 0 || req.method == "POST" || req.method == "PUT" || req.method == "PATCH":
		bw.WriteString("Content-Length: " + strconv.Itoa(len(req.body)) + "\r\n")
	}
	bw.WriteString("\r\n")
	var err error
	switch {
	case chunked:
		cw := httputil.NewChunkedWriter(bw)
		if _, err = io.Copy(cw, req.stream); err == nil {
			err = cw.Close()
			bw.WriteString("\r\n")
		}
	case req.stream != nil:
		_, err = io.Copy(bw, req.stream)
	default:
		_, err = bw.Write(req.body)
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		var se *sendError
		if !errors.As(err, &se) {
			err = &sendError{err: err}
		}
		bw.Reset(c)
		return nil, err
	}
	if c.readTimeout > 0 {
		c.armRead(time.Now()) // read_timeout starts when the request is sent
	}
	hreq := &http.Request{Method: req.method}
	for {
		resp, err := http.ReadResponse(c.br, hreq)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			continue
		}
		return resp, nil
	}
}

// reusable tells whether the connection may serve another request after
// resp's body was read to the end.
func reusable(resp *http.Response) bool {
	return !resp.Close && resp.ProtoAtLeast(1, 1)
}

// currentConn is the upstream connection a request is using. When the
// client goes away, cancel unblocks whatever I/O is pending on it (one
// context.AfterFunc per request, not per try).
type currentConn struct {
	mu        sync.Mutex
	c         *upConn
	cancelled bool
}

func (cc *currentConn) set(c *upConn) bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.c = c
	return !cc.cancelled
}

func (cc *currentConn) cancel() {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.cancelled = true
	if cc.c != nil {
		cc.c.conn.SetDeadline(time.Now())
	}
}

// release detaches the connection; false when the request was cancelled.
func (cc *currentConn) release() bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.c = nil
	return !cc.cancelled
}
