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
	title := strconv.Itoa(code) + " " + http.StatusText(code)
	body := "<html>\r\n<head><title>" + title + "</title></head>\r\n<body>\r\n<center><h1>" + title +
		"</h1></center>\r\n<hr><center>openresty</center>\r\n</body>\r\n</html>\r\n"
	c.kongAnswer(code, "text/html", []byte(body), http.Header{"Location": {location}})
}

// hostOnly is nginx's $host from a Host header: lower case, no port.
func hostOnly(hostport string) string {
	h := hostport
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.HasSuffix(h, "]") {
		h = h[:i]
	}
	return strings.ToLower(h)
}
