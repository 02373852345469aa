package kong

import (
	"bytes"
	"net"
	"net/http"
	"strconv"
	"time"
)

// A request that is not HTTP (garbage before the request line: the rest of
// a body an LB framed too short, see scenario lb/body-reframed) gets
// nginx's 400 through Kong's error handler, measured on Kong 3.9.1:
//
//	HTTP/1.1 400 Bad Request
//	Content-Type: text/plain; charset=utf-8
//	Connection: close
//	Content-Length: 57
//	X-Kong-Response-Latency: 0
//	Server: kong/3.9.1
//	X-Kong-Request-Id: <id>
//
//	Bad request
//	request_id: <id>
//
// net/http answers such a request itself, before any handler, with one
// write of its own 400 to the connection; badRequestConn swaps exactly that
// write for Kong's answer.

// goBadRequest are the bytes net/http writes (server.go, c.serve) before
// an optional ": detail" and after it.
var (
	goBadRequestHead = []byte("HTTP/1.1 400 Bad Request")
	goErrorHeaders   = []byte("\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request")
)

type badRequestListener struct{ net.Listener }

func (l badRequestListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &badRequestConn{Conn: c}, nil
}

type badRequestConn struct{ net.Conn }

// CloseWrite keeps net/http's half-close (a FIN after a Connection: close
// answer) working through the wrapper.
func (c *badRequestConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *badRequestConn) Write(b []byte) (int, error) {
	if !isGoBadRequest(b) {
		return c.Conn.Write(b)
	}
	if _, err := c.Conn.Write(kongBadRequest(newRequestID())); err != nil {
		return 0, err
	}
	return len(b), nil
}

// isGoBadRequest matches net/http's whole 400 write and nothing a handler
// writes (a handler's response always carries Date and Content-Length).
func isGoBadRequest(b []byte) bool {
	if !bytes.HasPrefix(b, goBadRequestHead) {
		return false
	}
	rest := b[len(goBadRequestHead):]
	i := bytes.Index(rest, goErrorHeaders)
	if i < 0 {
		return false
	}
	detail := rest[:i]
	return (len(detail) == 0 || bytes.HasPrefix(detail, []byte(": "))) && bytes.Equal(rest[i+len(goErrorHeaders):], detail)
}

func kongBadRequest(reqID string) []byte {
	body := errorBody(mimePlain, "Bad request", reqID)
	return []byte("HTTP/1.1 400 Bad Request\r\n" +
		"Date: " + time.Now().UTC().Format(http.TimeFormat) + "\r\n" +
		"Content-Type: " + mimePlain + "\r\n" +
		"Connection: close\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n" +
		"X-Kong-Response-Latency: 0\r\n" +
		"Server: " + serverHeader + "\r\n" +
		"X-Kong-Request-Id: " + reqID + "\r\n\r\n" + body)
}
