package kong

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// kongError is kong.response.error: a Lua-raised error, negotiated on the
// Accept header only (JSON by default), with X-Kong-Response-Latency and
// the Server header.
func (c *reqCtx) kongError(status int, msg string, extra http.Header) {
	mime := responseType(c.r.Header.Get("Accept"))
	c.kongAnswer(status, mime, []byte(errorBody(mime, msg, c.reqID)), extra)
}

// kongExit is kong.response.exit with a table body (lua-cjson encoded).
func (c *reqCtx) kongExit(status int, jsonBody string, extra http.Header) {
	c.kongAnswer(status, mimeJSON, []byte(jsonBody), extra)
}

func (c *reqCtx) kongAnswer(status int, mime string, body []byte, extra http.Header) {
	h := c.w.Header()
	for k, vv := range extra {
		setExact(h, k, vv[0])
	}
	h["Content-Type"] = []string{mime}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	h["X-Kong-Response-Latency"] = []string{msString(time.Since(c.start))}
	h["Server"] = []string{serverHeader}
	h["X-Kong-Request-Id"] = []string{c.reqID}
	c.finishHeaders(h)
	c.status = status
	c.w.WriteHeader(status)
	n, _ := c.w.Write(body)
	c.bytesSent = int64(n)
}

// errorPage is Kong's error handler for an nginx-generated error after
// proxying (502/504): negotiated on Accept, then Content-Type, then
// text/plain; it carries the proxied latency headers, Via and Server.
func (c *reqCtx) errorPage(status int) {
	mime := errorHandlerType(c.r)
	body := errorBody(mime, errorMessage(status), c.reqID)
	h := c.w.Header()
	h["Content-Type"] = []string{mime}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	h["X-Kong-Upstream-Latency"] = []string{msString(c.upstreamLatency)}
	h["X-Kong-Proxy-Latency"] = []string{msString(c.proxyLatency)}
	h["Via"] = []string{viaHeader}
	h["Server"] = []string{serverHeader}
	h["X-Kong-Request-Id"] = []string{c.reqID}
	c.finishHeaders(h)
	c.status = status
	c.w.WriteHeader(status)
	n, _ := io.WriteString(c.w, body)
	c.bytesSent = int64(n)
}

// nginxRedirect is kong.response.exit(code) with a Location header: no
// body of Kong's own, so nginx writes its special-response page.
func (c *reqCtx) nginxRedirect(code int, location string) {
	c.nginxPage(code, http.Header{"Location": {location}})
}

// nginxPage is nginx's special-response page (server_tokens off: no
// "<hr><center>" tail), as Kong 3.9.1 sends it for an exit without a body
// that no error_page catches. 301 and 302 go out without a charset.
func (c *reqCtx) nginxPage(code int, extra http.Header) {
	title := strconv.Itoa(code) + " " + http.StatusText(code) // nginx's page says "302 Found"
	body := "<html>\r\n<head><title>" + title + "</title></head>\r\n<body>\r\n<center><h1>" + title +
		"</h1></center>\r\n</body>\r\n</html>\r\n"
	mime := "text/html; charset=UTF-8"
	if code == 301 || code == 302 {
		mime = "text/html"
	}
	c.kongAnswer(code, mime, []byte(body), extra)
}

// hostOnly is nginx's $host from a Host header: lower case, no port.
func hostOnly(hostport string) string {
	h := hostport
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.HasSuffix(h, "]") {
		h = h[:i]
	}
	return strings.ToLower(h)
}
