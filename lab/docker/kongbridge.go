package docker

import (
	"bytes"
	"context"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
)

// adminTranslator stands in front of a bridge-networked gateway's admin API:
// Gateway.Reload posts a kong.yml written with host-side addresses
// (127.0.0.1:<published>), which this rewrites to the containers' aliases
// (rewriteKongConfig) before Kong, or the emulation, sees it. Every other
// request passes unchanged.
type adminTranslator struct {
	ln  net.Listener
	srv *http.Server
}

func newAdminTranslator(adminURL string, hosts map[string]string, addrs *addrMap) (*adminTranslator, error) {
	target, err := url.Parse(adminURL)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target) }}
	t := &adminTranslator{ln: ln}
	t.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/config" && r.Body != nil {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body, ct := rewriteConfigBody(body, r.Header.Get("Content-Type"), hosts, addrs)
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
			r.Header.Set("Content-Length", strconv.Itoa(len(body)))
			r.Header.Set("Content-Type", ct)
		}
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = t.srv.Serve(ln) }()
	return t, nil
}

func (t *adminTranslator) URL() string { return "http://" + t.ln.Addr().String() }

func (t *adminTranslator) Close() error { return t.srv.Shutdown(context.Background()) }

// rewriteConfigBody rewrites the "config" part of a multipart form (what
// Gateway.Reload sends, like `curl -F config=@kong.yml`), or a raw body's
// published addresses. It returns the body and its content type; a body it
// cannot parse passes unchanged, for Kong to judge.
func rewriteConfigBody(body []byte, contentType string, hosts map[string]string, addrs *addrMap) ([]byte, string) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || !strings.HasPrefix(mt, "multipart/") {
		return []byte(addrs.rewriteToInner(string(body))), contentType
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var out bytes.Buffer
	mw := multipart.NewWriter(&out)
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return body, contentType
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return body, contentType
		}
		if p.FormName() == "config" {
			if rb, err := rewriteKongConfig(b, hosts, addrs); err == nil {
				b = rb
			}
		}
		pw, err := mw.CreatePart(p.Header)
		if err != nil {
			return body, contentType
		}
		_, _ = pw.Write(b)
	}
	if err := mw.Close(); err != nil {
		return body, contentType
	}
	return out.Bytes(), mw.FormDataContentType()
}
