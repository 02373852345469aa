// Package resp is a small Redis client speaking RESP2 the way Kong's
// lua-resty-redis does: a connection opens with nothing but AUTH (when a
// password is set) and SELECT (when the database is not 0), then sends the
// commands it is asked to, one request and one reply at a time, and goes
// back to a keep-alive pool. The gateway emulation's rate-limiting redis
// policy uses it so a real Redis sees the same command stream from the
// emulation as from real Kong (a general client such as go-redis opens every
// connection with HELLO and CLIENT SETINFO); the lab and the differential
// suite use it to read and watch the counters.
package resp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Error is an error reply from Redis ("-ERR ...", "-NOSCRIPT ...").
type Error string

func (e Error) Error() string { return "redis: " + string(e) }

// Conn is one connection.
type Conn struct {
	nc      net.Conn
	r       *bufio.Reader
	w       *bufio.Writer
	timeout time.Duration
	used    time.Time
}

// Dial connects to addr within timeout; control, when set, vets the address
// before connect (the lab's loopback rule).
func Dial(ctx context.Context, addr string, timeout time.Duration, control func(network, address string, c syscall.RawConn) error) (*Conn, error) {
	d := net.Dialer{Timeout: timeout, Control: control}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &Conn{nc: nc, r: bufio.NewReader(nc), w: bufio.NewWriter(nc), timeout: timeout}, nil
}

// Close closes the connection.
func (c *Conn) Close() error { return c.nc.Close() }

// Do sends one command and reads its reply: int64, string (simple or bulk),
// nil (a null bulk), []any, or an Error (returned as the error too).
func (c *Conn) Do(args ...string) (any, error) {
	if c.timeout > 0 {
		_ = c.nc.SetDeadline(time.Now().Add(c.timeout))
	}
	fmt.Fprintf(c.w, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(c.w, "$%d\r\n%s\r\n", len(a), a)
	}
	if err := c.w.Flush(); err != nil {
		return nil, err
	}
	v, err := c.Read()
	if e, ok := v.(Error); ok {
		return v, e
	}
	return v, err
}

// Read reads one reply (also the stream MONITOR sends).
func (c *Conn) Read() (any, error) {
	line, err := c.r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("redis: malformed reply %q", line)
	}
	kind, body := line[0], line[1:len(line)-2]
	switch kind {
	case '+':
		return body, nil
	case '-':
		return Error(body), nil
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < -1 {
			return nil, fmt.Errorf("redis: bad bulk length %q", body)
		}
		if n == -1 {
			return nil, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(c.r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n < -1 {
			return nil, fmt.Errorf("redis: bad array length %q", body)
		}
		if n == -1 {
			return nil, nil
		}
		out := make([]any, n)
		for i := range out {
			v, err := c.Read()
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	}
	return nil, fmt.Errorf("redis: unknown reply type %q", line)
}

// SetTimeout changes the per-command deadline (0: none, for MONITOR).
func (c *Conn) SetTimeout(d time.Duration) {
	c.timeout = d
	if d == 0 {
		_ = c.nc.SetDeadline(time.Time{})
	}
}

// Pool is a keep-alive pool for one Redis and database, as lua-resty-redis's
// set_keepalive(10000, 100) keeps one: up to MaxIdle idle connections, each
// dropped after IdleTimeout unused. AUTH and SELECT are sent once, when a
// connection is opened.
type Pool struct {
	Addr     string
	Timeout  time.Duration // connect, send and read, like red:set_timeout
	Username string
	Password string
	DB       int
	// Control vets the address before connect (loopback.Control).
	Control     func(network, address string, c syscall.RawConn) error
	MaxIdle     int           // default 100
	IdleTimeout time.Duration // default 10 s

	mu     sync.Mutex
	idle   []*Conn
	closed bool
}

// ErrClosed is returned by a closed pool.
var ErrClosed = errors.New("redis: pool closed")

// Do runs one command on a pooled connection. A connection that failed is
// closed, not returned to the pool.
func (p *Pool) Do(ctx context.Context, args ...string) (any, error) {
	for {
		c, reused, err := p.get(ctx)
		if err != nil {
			return nil, err
		}
		v, err := c.Do(args...)
		var rerr Error
		if err != nil && !errors.As(err, &rerr) {
			_ = c.Close()
			if reused && stale(err) {
				// An idle connection the server closed meanwhile (nginx
				// drops those from its pool by itself): dial afresh.
				continue
			}
			return nil, err
		}
		p.put(c)
		return v, err
	}
}

// stale says whether err is a kept-alive connection found closed by the
// server before it answered.
func stale(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func (p *Pool) get(ctx context.Context) (*Conn, bool, error) {
	c, err := p.idleConn()
	if c != nil || err != nil {
		return c, c != nil, err
	}
	c, err = p.dial(ctx)
	return c, false, err
}

func (p *Pool) idleConn() (*Conn, error) {
	idleFor := p.IdleTimeout
	if idleFor == 0 {
		idleFor = 10 * time.Second
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	for len(p.idle) > 0 {
		c := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if time.Since(c.used) < idleFor {
			p.mu.Unlock()
			return c, nil
		}
		_ = c.Close()
	}
	p.mu.Unlock()
	return nil, nil
}

func (p *Pool) dial(ctx context.Context) (*Conn, error) {
	c, err := Dial(ctx, p.Addr, p.Timeout, p.Control)
	if err != nil {
		return nil, err
	}
	if p.Password != "" {
		args := []string{"AUTH", p.Password}
		if p.Username != "" {
			args = []string{"AUTH", p.Username, p.Password}
		}
		if _, err := c.Do(args...); err != nil {
			_ = c.Close()
			return nil, err
		}
	}
	if p.DB != 0 {
		if _, err := c.Do("SELECT", strconv.Itoa(p.DB)); err != nil {
			_ = c.Close()
			return nil, err
		}
	}
	return c, nil
}

func (p *Pool) put(c *Conn) {
	maxIdle := p.MaxIdle
	if maxIdle == 0 {
		maxIdle = 100
	}
	c.used = time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || len(p.idle) >= maxIdle {
		_ = c.Close()
		return
	}
	p.idle = append(p.idle, c)
}

// Close closes the idle connections; connections in use are closed when
// they come back.
func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, c := range p.idle {
		_ = c.Close()
	}
	p.idle = nil
	return nil
}
