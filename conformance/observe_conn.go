package conformance

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// sendOnConn sends req on a connection of its own: from r.From (a source
// address in trusted_ips), and followed by r.Trailing, in which case the
// answer returned is the one after the request's own.
func sendOnConn(ctx context.Context, cancel context.CancelFunc, req *http.Request, r Request) (*http.Response, error) {
	fail := func(err error) (*http.Response, error) { cancel(); return nil, err }
	u, err := url.Parse(req.URL.String())
	if err != nil {
		return fail(err)
	}
	d := net.Dialer{Timeout: 5 * time.Second}
	if r.From != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(r.From)}
	}
	c, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return fail(err)
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	closeAll := func() { stop(); c.Close(); cancel() }
	// Connection: close, as the suite's client sends, unless the
	// connection must stay open for the trailing bytes.
	req.Close = r.Trailing == ""
	bw := bufio.NewWriter(c)
	if err := req.Write(bw); err != nil {
		closeAll()
		return nil, err
	}
	bw.WriteString(r.Trailing)
	if err := bw.Flush(); err != nil {
		closeAll()
		return nil, err
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, req)
	if err == nil && r.Trailing != "" {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		resp, err = http.ReadResponse(br, nil)
	}
	if err != nil {
		closeAll()
		return nil, err
	}
	resp.Body = &connBody{ReadCloser: resp.Body, close: closeAll}
	return resp, nil
}

type connBody struct {
	io.ReadCloser
	close func()
}

func (b *connBody) Close() error { err := b.ReadCloser.Close(); b.close(); return err }
