package kong

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chaoslab/chaoslab/fakes/kong/internal/config"
)

// maxBufferedBody is how much request body is kept in memory so a retry can
// resend it (nginx buffers request bodies too). Larger bodies are streamed
// and not retried.
const maxBufferedBody = 8 << 20

// reqCtx is one request going through the gateway.
type reqCtx struct {
	g       *Gateway
	rt      *liveConfig
	w       http.ResponseWriter
	r       *http.Request
	start   time.Time
	reqID   string
	connID  uint64
	trusted bool // the peer is in trusted_ips (proxy_forwarded.go)
	route   *config.Route
	matched string
	svc     *serviceRuntime
	chain   []pluginInstance

	consumer      *config.Consumer
	correlationID string
	credentialID  string

	// upHeaders are set on the upstream request; upDrop removed from it
	// (key-auth's hide_credentials); queryDrop removed from its query.
	upHeaders http.Header
	upDrop    []string
	queryDrop []string
	// respHeaders are added to the response, whoever answers.
	respHeaders http.Header

	cur currentConn // the upstream connection in use, for cancellation

	proxyLatency, upstreamLatency time.Duration
	upstreamStatuses              []int
	status                        int
	bytesSent                     int64
}

func (c *reqCtx) upstreamHeader() http.Header {
	if c.upHeaders == nil {
		c.upHeaders = http.Header{}
	}
	return c.upHeaders
}

func (c *reqCtx) responseHeader() http.Header {
	if c.respHeaders == nil {
		c.respHeaders = http.Header{}
	}
	return c.respHeaders
}

// newRequestID is nginx's $request_id: 16 random bytes in hex.
func newRequestID() string {
	var b [16]byte
	a, z := rand.Uint64(), rand.Uint64()
	for i := 0; i < 8; i++ {
		b[i] = byte(a >> (8 * i))
		b[8+i] = byte(z >> (8 * i))
	}
	return hex.EncodeToString(b[:])
}

func (g *Gateway) serveProxy(w http.ResponseWriter, r *http.Request) {
	c := &reqCtx{g: g, rt: g.rt.Load(), w: w, r: r, start: time.Now(), reqID: newRequestID()}
	c.connID, _ = r.Context().Value(connIDKey{}).(uint64)
	c.trusted = g.trustedPeer(r)
	g.requests.Add(1)
	g.inflight.Add(1)
	defer g.inflight.Add(-1)
	defer c.logAccess()

	m, ok := c.rt.router.match(r)
	if !ok {
		c.kongError(http.StatusNotFound, "no Route matched with those values", nil)
		return
	}
	c.route, c.matched = m.route, m.matched
	if !m.acceptsHTTP && c.forwardedProto() != "https" {
		// The proxy listens in plain HTTP; an https-only route redirects
		// (Kong: "https://" .. forwarded_host .. $request_uri) or says so,
		// unless a trusted LB says the client used https.
		switch code := m.route.HTTPSRedirectStatusCode; code {
		case 301, 302, 307, 308:
			c.nginxRedirect(code, "https://"+c.forwardedHost()+r.RequestURI)
			return
		}
		// Kong sets Connection: Upgrade (runloop/handler.lua); nginx joins
		// it to its own keep-alive, and answers a closing client with
		// Connection: close alone (measured on Kong 3.9.1).
		h := http.Header{"Upgrade": {"TLS/1.2, HTTP/1.1"}}
		if !r.Close {
			h.Set("Connection", "keep-alive, Upgrade")
		}
		c.kongError(http.StatusUpgradeRequired, "Please use HTTPS protocol", h)
		return
	}
	c.svc = c.rt.services[m.route.Service]
	c.chain = c.rt.chains[m.route]
	for _, pi := range c.chain {
		if pi.impl.access(c) {
			return
		}
	}
	c.proxy()
}

// hopHeaders are not forwarded in either direction.
var hopHeaders = map[string]bool{
	"Connection": true, "Proxy-Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true,
	"Proxy-Authorization": true, "Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
}

func copyHeader(dst, src http.Header) {
	for k, vv := range src {
		if hopHeaders[k] {
			continue
		}
		dst[k] = vv
	}
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (c *reqCtx) requestLine() string {
	return c.r.Method + " " + c.r.RequestURI + " " + c.r.Proto
}

func (c *reqCtx) info(upstream string) *requestInfo {
	return &requestInfo{connID: c.connID, client: clientIP(c.r), request: c.requestLine(), upstream: upstream, host: c.r.Host, requestID: c.reqID}
}

func (c *reqCtx) proxy() {
	r := c.r
	s := c.svc
	ctx := r.Context()

	// The request body is buffered so a retry can send it again (nginx
	// buffers request bodies too); a huge one is streamed and not retried.
	req := &upstreamRequest{method: r.Method}
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		buf, err := io.ReadAll(io.LimitReader(r.Body, maxBufferedBody+1))
		if err != nil {
			c.status = 499 // the client went away while sending its body
			return
		}
		req.body = buf
		if len(buf) > maxBufferedBody {
			req.stream, req.contentLength = io.MultiReader(bytes.NewReader(buf), r.Body), r.ContentLength
		}
	}

	upPath := upstreamPath(s.svc.Path, r.URL.Path, c.matched, c.route.StripPath)
	query := r.URL.RawQuery
	if len(c.queryDrop) > 0 {
		q := r.URL.Query()
		for _, k := range c.queryDrop {
			q.Del(k)
		}
		query = q.Encode()
	}
	req.uri = escapedPath(upPath)
	if query != "" {
		req.uri += "?" + query
	}
	req.host = c.upstreamHost()
	sni := req.host
	if h, _, err := net.SplitHostPort(req.host); err == nil {
		sni = h
	}
	// For an IP the dialer sends no SNI (as nginx) but still checks the
	// certificate against it (proxy_ssl_name), see verifyName.
	sni = strings.Trim(sni, "[]")
	req.writeHeaders = c.writeUpstreamHeaders
	stop := context.AfterFunc(ctx, c.cur.cancel)
	defer stop()

	var (
		resp    *http.Response
		conn    *upConn
		last    tryFailure
		peer    string
		passive *targetState
		addrs   []string
	)
	if s.balancer == nil && s.staticPeers == nil {
		var err error
		// Kong resolves the service host once, before the first try.
		if addrs, err = c.g.resolver.lookup(ctx, s.svc.Host); err != nil {
			// Kong's resolver tries the short name, then SRV (33), A (1) and
			// CNAME (5) records, and logs each try.
			e, h := dnsErrorText(err), s.svc.Host
			c.g.errLog.log("error", c.info(""), "[lua] init.lua:381: execute(): DNS resolution failed: "+e+`. Tried: ["(short)`+h+`:(na) - cache-miss","`+
				h+`:33 - cache-miss/querying/`+e+`","`+h+`:1 - cache-miss/querying/`+e+`","`+h+`:5 - cache-miss/querying/`+e+`"]`)
			// Kong (balancer.execute) answers 503 only for a name error
			// or an empty answer; any other resolver failure (no server
			// reachable, timeout) is a 500 carrying the error.
			if t := dnsErrorText(err); t != "dns server error: 3 name error" && t != "dns client error: 101 empty record received" {
				c.kongError(http.StatusInternalServerError, "failed the initial dns/balancer resolve for '"+s.svc.Host+"' with: "+t, nil)
				return
			}
			c.kongError(http.StatusServiceUnavailable, "name resolution failed", nil)
			return
		}
	}
	for try := 0; try < s.tries; try++ {
		if s.balancer != nil {
			ts, addr, ok := s.balancer.pick(ctx)
			if !ok && try == 0 {
				c.kongError(http.StatusServiceUnavailable, "failure to get a peer from the ring-balancer", nil)
				return
			}
			if !ok {
				// A health change reaches the balancer through an event after
				// the try that caused it: real Kong retries the same peer.
				ts, addr = passive, peer
			}
			passive, peer = ts, addr
			if !c.route.PreserveHost && s.balancer.up.HostHeader == "" {
				// Kong's set_host_header: the picked target's hostname,
				// with its port unless the scheme's default.
				req.host = ts.t.Host
				if (s.scheme == "http" && ts.t.Port != 80) || (s.scheme == "https" && ts.t.Port != 443) {
					req.host = net.JoinHostPort(ts.t.Host, strconv.Itoa(ts.t.Port))
				}
			}
		} else if s.staticPeers != nil {
			peer = s.staticPeers[try%len(s.staticPeers)]
		} else {
			peer = net.JoinHostPort(addrs[try%len(addrs)], strconv.Itoa(s.svc.Port))
		}
		tryStart := time.Now()
		c.proxyLatency = tryStart.Sub(c.start)
		var err error
		resp, conn, err = s.pool.roundTrip(ctx, peer, sni, req, &c.cur)
		c.upstreamLatency = time.Since(tryStart)
		if err == nil {
			c.upstreamStatuses = append(c.upstreamStatuses, resp.StatusCode)
			if passive != nil {
				s.balancer.report(passive, fromPassive, s.balancer.classifyStatus(fromPassive, resp.StatusCode))
			}
			break
		}
		if ctx.Err() != nil {
			// nginx's 499: the client closed the connection first.
			c.status = 499
			c.g.errLog.log("info", c.info(s.scheme+"://"+peer+req.uri), "client prematurely closed connection while reading response header from upstream")
			return
		}
		last = classifyTry(err)
		c.upstreamStatuses = append(c.upstreamStatuses, last.status)
		c.g.errLog.log("error", c.info(s.scheme+"://"+peer+req.uri), last.line)
		retry := try+1 < s.tries && !(last.sent && nonIdempotent(r.Method)) && req.stream == nil
		if passive != nil && retry {
			// Kong's balancer reports a failed try as a tcp failure or a
			// timeout when it moves on to the next one...
			o, kind := outcomeTCPFailure, "TCP"
			if last.timeout {
				o, kind = outcomeTimeout, "TIMEOUT"
			}
			if n, limit := s.balancer.report(passive, fromPassive, o); limit > 0 {
				// lua-resty-healthcheck's warning, in the phase's context.
				ctxText := ""
				if i := strings.Index(last.line, " while "); i >= 0 {
					ctxText = last.line[i:]
				}
				c.g.errLog.log("warn", c.info(s.scheme+"://"+peer+req.uri), fmt.Sprintf(
					"[lua] healthcheck.lua:1375: log(): [healthcheck] (%s:%s) unhealthy %s increment (%d/%d) for '%s(%s)'%s",
					s.balancer.up.ID, s.balancer.up.Name, kind, n, limit, passive.t.Host, peer, ctxText))
			}
		}
		if !retry {
			break
		}
	}
	if resp == nil {
		if passive != nil {
			// ...and the final answer in the log phase: 504 as a timeout,
			// anything else as an HTTP status.
			o := outcomeTimeout
			if last.status != http.StatusGatewayTimeout {
				o = s.balancer.classifyStatus(fromPassive, last.status)
			}
			s.balancer.report(passive, fromPassive, o)
		}
		c.errorPage(last.status)
		return
	}
	c.writeProxied(resp, conn, s.scheme+"://"+peer+req.uri)
}

// Shared header values: net/http never modifies them, and a one-element
// slice cannot be appended to in place.
var (
	viaValue    = []string{viaHeader}
	serverValue = []string{serverHeader}
)

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (c *reqCtx) writeProxied(resp *http.Response, conn *upConn, upstream string) {
	h := c.w.Header()
	copyHeader(h, resp.Header)
	if via := resp.Header.Get("Via"); via != "" {
		h["Via"] = []string{via + ", " + viaHeader}
	} else {
		h["Via"] = viaValue
	}
	h["X-Kong-Upstream-Latency"] = []string{msString(c.upstreamLatency)}
	h["X-Kong-Proxy-Latency"] = []string{msString(c.proxyLatency)}
	if len(resp.Header["Server"]) == 0 {
		// Kong replaces nginx's default "openresty" when the upstream
		// sent no Server header.
		h["Server"] = serverValue
	}
	h["X-Kong-Request-Id"] = []string{c.reqID}
	c.finishHeaders(h)
	c.status = resp.StatusCode
	c.w.WriteHeader(resp.StatusCode)
	// When the whole body is already buffered it goes out with the header in
	// one write. Otherwise the header goes now and each piece as it comes,
	// as nginx does, so slow or streamed bodies are not held back.
	var flusher http.Flusher
	if resp.ContentLength < 0 || int64(conn.br.Buffered()) < resp.ContentLength {
		flusher, _ = c.w.(http.Flusher)
		if flusher != nil {
			flusher.Flush()
		}
	}
	bp := copyBufs.Get().(*[]byte)
	n, err := c.copyBody(resp, conn, *bp, flusher)
	copyBufs.Put(bp)
	c.bytesSent = n
	if err != nil && c.r.Context().Err() == nil {
		line := "upstream prematurely closed connection while reading upstream"
		if isTimeout(err) {
			line = "upstream timed out (110: Connection timed out) while reading upstream"
		}
		c.g.errLog.log("error", c.info(upstream), line)
		c.logAccess()
		c.status = -1               // logged already
		panic(http.ErrAbortHandler) // close the client connection, as nginx does
	}
}

// copyBody streams the upstream body to the client and gives the
// connection back to the pool when the body was read to its end. It
// returns the upstream's read error, if any; a client that went away is
// not an upstream problem.
func (c *reqCtx) copyBody(resp *http.Response, conn *upConn, buf []byte, flusher http.Flusher) (int64, error) {
	n, err := io.CopyBuffer(writerOnly{c.w, flusher}, resp.Body, buf)
	resp.Body.Close()
	// release before put: once pooled, the connection is someone else's
	// and a late cancellation must not touch it.
	if c.cur.release() && err == nil && reusable(resp) {
		c.svc.pool.put(conn)
	} else {
		conn.conn.Close()
	}
	var cw clientWriteError
	if errors.As(err, &cw) {
		return n, nil
	}
	return n, err
}

// writerOnly hides ReaderFrom so CopyBuffer goes through our buffer, and
// tags write errors so they are told apart from upstream read errors.
type writerOnly struct {
	w io.Writer
	f http.Flusher // flush after each write when streaming
}

func (w writerOnly) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	if err != nil {
		return n, clientWriteError{err}
	}
	if w.f != nil {
		w.f.Flush()
	}
	return n, nil
}

type clientWriteError struct{ err error }

func (e clientWriteError) Error() string { return e.err.Error() }

// finishHeaders adds plugin response headers and runs header filters.
func (c *reqCtx) finishHeaders(h http.Header) {
	for k, vv := range c.respHeaders {
		setExact(h, k, vv[0])
	}
	for _, pi := range c.chain {
		if hf, ok := pi.impl.(headerFilter); ok {
			hf.headerFilter(c, h)
		}
	}
}

func msString(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

func (c *reqCtx) logAccess() {
	if c.status == -1 {
		return
	}
	e := accessEntry{
		Time:             c.start,
		RequestID:        c.reqID,
		Client:           clientIP(c.r),
		Method:           c.r.Method,
		Path:             c.r.RequestURI,
		Proto:            c.r.Proto,
		Host:             c.r.Host,
		UserAgent:        c.r.UserAgent(),
		Referer:          c.r.Referer(),
		Status:           c.status,
		UpstreamStatuses: c.upstreamStatuses,
		Tries:            len(c.upstreamStatuses),
		BytesSent:        c.bytesSent,
	}
	switch len(c.upstreamStatuses) {
	case 0:
	case 1:
		e.UpstreamStatus = strconv.Itoa(c.upstreamStatuses[0])
	default:
		parts := make([]string, len(c.upstreamStatuses))
		for i, s := range c.upstreamStatuses {
			parts[i] = strconv.Itoa(s)
		}
		e.UpstreamStatus = strings.Join(parts, ", ")
	}
	if len(c.upstreamStatuses) > 0 {
		e.UpstreamLatency = c.upstreamLatency.Milliseconds()
	}
	total := time.Since(c.start)
	e.RequestLatency = total.Milliseconds()
	e.KongLatency = (total - c.upstreamLatency).Milliseconds()
	if c.route != nil {
		e.Route = entityName(c.route.Name, c.route.ID)
		e.Service = entityName(c.route.Service.Name, c.route.Service.ID)
	}
	if c.consumer != nil {
		e.Consumer = entityName(c.consumer.Username, c.consumer.ID)
	}
	c.g.accLog.add(e)
}

func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }
