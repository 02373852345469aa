package docker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
)

// toxiTranslator stands in front of a bridge-networked toxiproxy's API so the
// lab drives it exactly as in host mode. The lab asks for proxies listening
// on 127.0.0.1:0 with upstreams at published loopback addresses; inside the
// container those mean nothing. Requests get a pool port (0.0.0.0:2000N,
// published on 127.0.0.1) and the upstream's alias:port; responses get the
// published addresses back. Only "listen" and "upstream" fields change.
type toxiTranslator struct {
	ln    net.Listener
	srv   *http.Server
	alias string            // the toxiproxy container on the run's network
	outer *strings.Replacer // container listen address -> published address
	addrs *addrMap

	mu   sync.Mutex
	next int
}

func newToxiTranslator(api, alias string, outer *strings.Replacer, addrs *addrMap) (*toxiTranslator, error) {
	target, err := url.Parse(api)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	t := &toxiTranslator{ln: ln, alias: alias, outer: outer, addrs: addrs, next: toxiFirstPoolPort}
	rp := &httputil.ReverseProxy{
		Rewrite:        func(r *httputil.ProxyRequest) { r.SetURL(target) },
		ModifyResponse: t.response,
	}
	t.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := t.request(r); err != nil {
			http.Error(w, `{"error":`+strconv.Quote(err.Error())+`}`, http.StatusBadRequest)
			return
		}
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = t.srv.Serve(ln) }()
	return t, nil
}

func (t *toxiTranslator) URL() string { return "http://" + t.ln.Addr().String() }

func (t *toxiTranslator) Close() error { return t.srv.Shutdown(context.Background()) }

// rewritesProxies says whether a request or response body carries proxy
// definitions (create, update, populate, list); toxic bodies do not.
func rewritesProxies(path string) bool {
	return (path == "/proxies" || path == "/populate" || strings.HasPrefix(path, "/proxies/")) &&
		!strings.Contains(path, "/toxics")
}

func (t *toxiTranslator) request(r *http.Request) error {
	if r.Body == nil || r.Method == http.MethodGet || !rewritesProxies(r.URL.Path) {
		return nil
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	out, err := rewriteProxyJSON(body, t.inbound)
	if err != nil {
		return err
	}
	r.Body = io.NopCloser(bytes.NewReader(out))
	r.ContentLength = int64(len(out))
	r.Header.Set("Content-Length", strconv.Itoa(len(out)))
	return nil
}

func (t *toxiTranslator) response(resp *http.Response) error {
	if !rewritesProxies(resp.Request.URL.Path) {
		return nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if out, err := rewriteProxyJSON(body, t.outbound); err == nil {
		body = out
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return nil
}

// inbound: the lab's view -> the container's.
func (t *toxiTranslator) inbound(listen, upstream string) (string, string, error) {
	if listen != "" {
		if in, ok := t.addrs.inner(listen); ok { // an existing proxy's published address
			_, p, _ := net.SplitHostPort(in)
			listen = "0.0.0.0:" + p
		} else {
			t.mu.Lock()
			if t.next >= toxiFirstPoolPort+toxiPoolSize {
				t.mu.Unlock()
				return "", "", fmt.Errorf("bridge mode publishes %d toxiproxy ports and all are in use", toxiPoolSize)
			}
			listen = "0.0.0.0:" + strconv.Itoa(t.next)
			t.next++
			t.mu.Unlock()
		}
	}
	return listen, t.addrs.rewriteToInner(upstream), nil
}

// outbound: the container's view -> the lab's; each proxy's published
// address is recorded so kong.yml targets pointing at it can be rewritten.
func (t *toxiTranslator) outbound(listen, upstream string) (string, string, error) {
	if listen != "" {
		if _, p, err := net.SplitHostPort(listen); err == nil {
			pub := t.outer.Replace("0.0.0.0:" + p)
			if pub != "0.0.0.0:"+p {
				t.addrs.add(pub, t.alias+":"+p)
				listen = pub
			}
		}
	}
	return listen, t.addrs.outer(upstream), nil
}

// rewriteProxyJSON applies fn to every object with a "listen" or "upstream"
// string, at any depth (a proxy, a list of proxies, {"proxies": [...]}, a
// map of name to proxy).
func rewriteProxyJSON(body []byte, fn func(listen, upstream string) (string, string, error)) ([]byte, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return body, nil
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, err
	}
	var walk func(any) error
	walk = func(v any) error {
		switch x := v.(type) {
		case map[string]any:
			l, lok := x["listen"].(string)
			u, uok := x["upstream"].(string)
			if lok || uok {
				nl, nu, err := fn(l, u)
				if err != nil {
					return err
				}
				if lok {
					x["listen"] = nl
				}
				if uok {
					x["upstream"] = nu
				}
			}
			for _, c := range x {
				if err := walk(c); err != nil {
					return err
				}
			}
		case []any:
			for _, c := range x {
				if err := walk(c); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}
