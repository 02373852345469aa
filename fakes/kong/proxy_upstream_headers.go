package kong

import (
	"bufio"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// overridden are request headers the gateway sets itself upstream.
var overridden = map[string]bool{
	"X-Forwarded-For": true, "X-Forwarded-Proto": true, "X-Forwarded-Host": true, "X-Forwarded-Port": true,
	"X-Forwarded-Path": true, "X-Forwarded-Prefix": true, "X-Real-Ip": true, "X-Kong-Request-Id": true,
	"Via":    true, // written with Kong's own appended
	"Expect": true, // the body is already buffered: no 100-continue round trip
}

// writeUpstreamHeaders writes the client's headers (less hop-by-hop ones
// and those Kong sets) and Kong's proxy headers straight into the upstream
// connection's buffer.
func (c *reqCtx) writeUpstreamHeaders(w *bufio.Writer) {
	r := c.r
	var drop []string // canonical names removed or replaced upstream
	if v := r.Header["Connection"]; len(v) > 0 {
		for _, t := range strings.Split(strings.Join(v, ","), ",") {
			drop = append(drop, http.CanonicalHeaderKey(strings.TrimSpace(t)))
		}
	}
	for _, d := range c.upDrop {
		drop = append(drop, http.CanonicalHeaderKey(d))
	}
	for k := range c.upHeaders {
		drop = append(drop, http.CanonicalHeaderKey(k))
	}
outer:
	for k, vv := range r.Header {
		if hopHeaders[k] || overridden[k] {
			continue
		}
		for _, d := range drop {
			if d == k {
				continue outer
			}
		}
		for _, v := range vv {
			writeHeaderLine(w, k, v)
		}
	}
	// Kong 3.x adds itself to Via upstream too (after a client's Via).
	if prior := r.Header["Via"]; len(prior) > 0 {
		writeHeaderLine(w, "Via", strings.Join(prior, ", ")+", "+viaHeader)
	} else {
		writeHeaderLine(w, "Via", viaHeader)
	}
	ip := clientIP(r)
	if prior := r.Header["X-Forwarded-For"]; len(prior) > 0 {
		writeHeaderLine(w, "X-Forwarded-For", strings.Join(prior, ", ")+", "+ip)
	} else {
		writeHeaderLine(w, "X-Forwarded-For", ip)
	}
	writeHeaderLine(w, "X-Real-IP", ip)
	// Kong's own view unless the peer is in trusted_ips
	// (proxy_forwarded.go). X-Forwarded-Port is nginx's $server_port (the
	// listener's), never the Host header's port.
	port := c.forwarded("Port")
	if port == "" {
		port = listenerPort(r)
	}
	path := c.forwarded("Path")
	if path == "" {
		path = r.URL.Path
	}
	writeHeaderLine(w, "X-Forwarded-Proto", c.forwardedProto())
	writeHeaderLine(w, "X-Forwarded-Host", c.forwardedHost())
	writeHeaderLine(w, "X-Forwarded-Port", port)
	writeHeaderLine(w, "X-Forwarded-Path", path)
	if p := c.forwarded("Prefix"); p != "" {
		writeHeaderLine(w, "X-Forwarded-Prefix", p)
	} else if c.route.StripPath && c.matched != "" && c.matched != "/" {
		writeHeaderLine(w, "X-Forwarded-Prefix", c.matched)
	}
	writeHeaderLine(w, "X-Kong-Request-Id", c.reqID)
	for k, vv := range c.upHeaders {
		for _, v := range vv {
			writeHeaderLine(w, k, v)
		}
	}
}

func writeHeaderLine(w *bufio.Writer, k, v string) {
	w.WriteString(k)
	w.WriteString(": ")
	w.WriteString(v)
	w.WriteString("\r\n")
}

// upstreamHost is the Host header sent upstream: the client's with
// preserve_host, else the upstream's host_header or the service host, with
// the port when it is not the scheme's default.
func (c *reqCtx) upstreamHost() string {
	if c.route.PreserveHost {
		return c.r.Host
	}
	s := c.svc.svc
	host := s.Host
	if b := c.svc.balancer; b != nil && b.up.HostHeader != "" {
		return b.up.HostHeader
	}
	if (c.svc.scheme == "http" && s.Port != 80) || (c.svc.scheme == "https" && s.Port != 443) {
		return net.JoinHostPort(host, strconv.Itoa(s.Port))
	}
	return host
}

// escapedPath percent-encodes a path for the request line, cheaply when
// it needs nothing.
func escapedPath(p string) string {
	for i := 0; i < len(p); i++ {
		if b := p[i]; b <= ' ' || b >= 0x7f || b == '?' || b == '#' || b == '%' {
			return (&url.URL{Path: p}).EscapedPath()
		}
	}
	return p
}
