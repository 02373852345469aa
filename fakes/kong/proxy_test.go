package kong

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func serviceConfig(url, extra string) string {
	return fmt.Sprintf(`_format_version: "3.0"
services:
- name: svc
  url: %s
%s
  routes:
  - name: r
    paths: ["/api"]
`, url, indent(extra, 2))
}

func TestProxiesAndStripsPath(t *testing.T) {
	up := echoUpstream(t)
	g := startGateway(t, serviceConfig(up.URL+"/base", ""))
	res := do(t, "GET", g.ProxyURL()+"/api/items?x=1", map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-For": "10.0.0.9"}, "")
	if res.status != 200 {
		t.Fatalf("status %d body %q", res.status, res.body)
	}
	e := decodeEcho(t, res.body)
	if e.Path != "/base/items" || e.RawQuery != "x=1" {
		t.Errorf("upstream got path %q query %q, want /base/items x=1", e.Path, e.RawQuery)
	}
	h, _ := hostPort(t, up.URL)
	if !strings.HasPrefix(e.Host, h) {
		t.Errorf("Host %q, want the service host %s", e.Host, h)
	}
	checks := map[string]string{
		"X-Forwarded-For":    "10.0.0.9, 127.0.0.1",
		"X-Real-Ip":          "127.0.0.1",
		"X-Forwarded-Proto":  "http", // untrusted client: Kong's own view
		"X-Forwarded-Path":   "/api/items",
		"X-Forwarded-Prefix": "/api",
	}
	for k, want := range checks {
		if got := e.Header.Get(k); got != want {
			t.Errorf("upstream %s = %q, want %q", k, got, want)
		}
	}
	if got := e.Header.Get("X-Kong-Request-Id"); got != res.header.Get("X-Kong-Request-Id") || len(got) != 32 {
		t.Errorf("request id upstream %q vs downstream %q", got, res.header.Get("X-Kong-Request-Id"))
	}
	if res.header.Get("Via") != "1.1 kong/3.9.1" {
		t.Errorf("Via %q", res.header.Get("Via"))
	}
	for _, k := range []string{"X-Kong-Upstream-Latency", "X-Kong-Proxy-Latency"} {
		if !regexp.MustCompile(`^\d+$`).MatchString(res.header.Get(k)) {
			t.Errorf("%s = %q", k, res.header.Get(k))
		}
	}
	if res.header.Get("X-Kong-Response-Latency") != "" || res.header.Get("Server") != "kong/3.9.1" {
		t.Errorf("proxied response: Response-Latency %q (want none), Server %q (want kong/3.9.1: the upstream sent none)", res.header.Get("X-Kong-Response-Latency"), res.header.Get("Server"))
	}
	acc := g.accessEntries()
	if len(acc) != 1 || acc[0].Status != 200 || acc[0].UpstreamStatus != "200" || acc[0].Route != "r" || acc[0].Service != "svc" {
		t.Errorf("access log %+v", acc)
	}
}

func TestNoRouteIs404JSON(t *testing.T) {
	up := echoUpstream(t)
	g := startGateway(t, serviceConfig(up.URL, ""))
	res := get(t, g.ProxyURL()+"/nope")
	id := res.header.Get("X-Kong-Request-Id")
	want := "{\n  \"message\":\"no Route matched with those values\",\n  \"request_id\":\"" + id + "\"\n}"
	if res.status != 404 || res.body != want {
		t.Fatalf("got %d %q, want 404 %q", res.status, res.body, want)
	}
	if res.header.Get("Content-Type") != "application/json; charset=utf-8" || res.header.Get("Server") != "kong/3.9.1" || res.header.Get("X-Kong-Response-Latency") == "" {
		t.Errorf("headers %v", res.header)
	}
	plain := do(t, "GET", g.ProxyURL()+"/nope", map[string]string{"Accept": "text/plain"}, "")
	if plain.body != "no Route matched with those values\nrequest_id: "+plain.header.Get("X-Kong-Request-Id")+"\n" {
		t.Errorf("Accept text/plain: %q", plain.body)
	}
}

// TestUpstreamFailureMapping is facts/kong.md's table: status, body and the
// nginx error.log line per failure.
func TestUpstreamFailureMapping(t *testing.T) {
	slow, _ := countingUpstream(t, 200, 2*time.Second)
	fail500, _ := countingUpstream(t, 500, 0)
	closeAddr, _ := closingUpstream(t)
	resetAddr, _ := resettingUpstream(t)
	refused := refusedAddr(t)
	ca := newTestCA(t, "lab CA")
	tlsUp := tlsUpstream(t, ca.leaf(t, "localhost"))
	_, tlsPort := hostPort(t, tlsUp.URL)

	cases := []struct {
		name     string
		url      string
		extra    string
		status   int
		body     string
		logLine  string
		logCount int
	}{
		{"read timeout", slow.URL, "read_timeout: 50\nretries: 0", 504, "The upstream server is timing out",
			"upstream timed out (110: Connection timed out) while reading response header from upstream", 1},
		{"premature close", "http://" + closeAddr, "retries: 0", 502, "An invalid response was received from the upstream server",
			"upstream prematurely closed connection while reading response header from upstream", 1},
		{"reset", "http://" + resetAddr, "retries: 0", 502, "An invalid response was received from the upstream server",
			"recv() failed (104: Connection reset by peer) while reading response header from upstream", 1},
		{"refused", "http://" + refused, "retries: 2", 502, "An invalid response was received from the upstream server",
			"connect() failed (111: Connection refused) while connecting to upstream", 3},
		{"500 passes through", fail500.URL, "", 500, "upstream says Internal Server Error", "", 0},
		{"http to TLS port", "http://127.0.0.1:" + tlsPort, "retries: 0", 400, "Client sent an HTTP request to an HTTPS server.\n", "", 0},
		{"https to plain port", "https://" + strings.TrimPrefix(fail500.URL, "http://"), "retries: 0", 502, "An invalid response was received from the upstream server",
			"SSL_do_handshake() failed (SSL: error:0A00010B:SSL routines::wrong version number) while SSL handshaking to upstream", 1},
		{"untrusted cert", "https://localhost:" + tlsPort, "retries: 0\ntls_verify: true", 502, "An invalid response was received from the upstream server",
			"upstream SSL certificate verify error: (20:unable to get local issuer certificate) while SSL handshaking to upstream", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := startGateway(t, serviceConfig(tc.url, tc.extra))
			res := get(t, g.ProxyURL()+"/api/x")
			id := res.header.Get("X-Kong-Request-Id")
			want := tc.body
			if tc.logLine != "" {
				want = tc.body + "\nrequest_id: " + id + "\n"
			}
			if res.status != tc.status || res.body != want {
				t.Fatalf("got %d %q, want %d %q", res.status, res.body, tc.status, want)
			}
			lines := g.errorLines()
			n := 0
			for _, l := range lines {
				if strings.Contains(l, tc.logLine) && tc.logLine != "" {
					n++
					if !strings.HasSuffix(l, `request_id: "`+id+`"`) || !strings.Contains(l, `, client: 127.0.0.1, server: kong, request: "GET /api/x HTTP/1.1", upstream: "`) {
						t.Errorf("log line shape: %s", l)
					}
					if !regexp.MustCompile(`^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[error\] \d+#0: \*\d+ `).MatchString(l) {
						t.Errorf("log line prefix: %s", l)
					}
				}
			}
			if n != tc.logCount {
				t.Errorf("%d matching error lines, want %d: %q", n, tc.logCount, lines)
			}
			if tc.logLine != "" {
				if res.header.Get("X-Kong-Upstream-Latency") == "" || res.header.Get("X-Kong-Proxy-Latency") == "" || res.header.Get("X-Kong-Response-Latency") != "" ||
					res.header.Get("Via") != "1.1 kong/3.9.1" || res.header.Get("Content-Type") != "text/plain; charset=utf-8" {
					t.Errorf("proxied error latency headers: %v", res.header)
				}
			}
			acc := g.accessEntries()
			wantUp := fmt.Sprint(tc.status)
			if tc.logCount > 1 {
				wantUp = strings.TrimSuffix(strings.Repeat(wantUp+", ", tc.logCount), ", ")
			}
			if len(acc) != 1 || acc[0].Status != tc.status || acc[0].UpstreamStatus != wantUp {
				t.Errorf("access log %+v, want status %d upstream_status %q", acc, tc.status, wantUp)
			}
		})
	}
}

func TestUpstreamServerHeaderKept(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "gunicorn")
		w.Header().Set("Via", "1.1 envoy")
	}))
	t.Cleanup(up.Close)
	g := startGateway(t, serviceConfig(up.URL, ""))
	res := get(t, g.ProxyURL()+"/api")
	if res.header.Get("Server") != "gunicorn" || res.header.Get("Via") != "1.1 envoy, 1.1 kong/3.9.1" {
		t.Errorf("Server %q Via %q", res.header.Get("Server"), res.header.Get("Via"))
	}
}

// TestErrorNegotiation is Kong's content negotiation for its error handler
// (Accept, then Content-Type, then text/plain) and for Lua errors (Accept,
// then JSON).
func TestErrorNegotiation(t *testing.T) {
	g := startGateway(t, serviceConfig("http://"+refusedAddr(t), "retries: 0"))
	cases := []struct {
		hdr             map[string]string
		proxied, luaErr string // Content-Type of a 502 and of a 404
	}{
		{nil, "text/plain; charset=utf-8", "application/json; charset=utf-8"},
		{map[string]string{"Accept": "application/json"}, "application/json; charset=utf-8", "application/json; charset=utf-8"},
		{map[string]string{"Content-Type": "application/json"}, "application/json; charset=utf-8", "application/json; charset=utf-8"},
		{map[string]string{"Accept": "*/*"}, "application/json; charset=utf-8", "application/json; charset=utf-8"},
		{map[string]string{"Accept": "text/html"}, "text/html; charset=utf-8", "text/html; charset=utf-8"},
		{map[string]string{"Accept": "application/json;q=0.5, text/plain"}, "text/plain; charset=utf-8", "text/plain; charset=utf-8"},
		{map[string]string{"Accept": "application/xml"}, "application/xml; charset=utf-8", "application/xml; charset=utf-8"},
		{map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "application/json; charset=utf-8", "application/json; charset=utf-8"},
	}
	for _, tc := range cases {
		p := do(t, "GET", g.ProxyURL()+"/api", tc.hdr, "")
		n := do(t, "GET", g.ProxyURL()+"/none", tc.hdr, "")
		if p.header.Get("Content-Type") != tc.proxied || n.header.Get("Content-Type") != tc.luaErr {
			t.Errorf("%v: 502 %q (want %q), 404 %q (want %q)", tc.hdr, p.header.Get("Content-Type"), tc.proxied, n.header.Get("Content-Type"), tc.luaErr)
		}
		if tc.proxied == "application/json; charset=utf-8" {
			want := "{\n  \"message\":\"An invalid response was received from the upstream server\",\n  \"request_id\":\"" + p.header.Get("X-Kong-Request-Id") + "\"\n}"
			if p.body != want {
				t.Errorf("JSON 502 body %q", p.body)
			}
		}
	}
}

func TestLogSinks(t *testing.T) {
	var errBuf, accBuf syncBuffer
	g := startGateway(t, serviceConfig("http://"+refusedAddr(t), "retries: 0"), func(o *Options) { o.ErrorLog, o.AccessLog = &errBuf, &accBuf })
	res := do(t, "GET", g.ProxyURL()+"/api?q=1", map[string]string{"User-Agent": "curl/8.5.0"}, "")
	id := res.header.Get("X-Kong-Request-Id")
	if !strings.Contains(errBuf.String(), "connect() failed (111: Connection refused) while connecting to upstream") {
		t.Errorf("error sink: %q", errBuf.String())
	}
	acc := accBuf.String()
	if !regexp.MustCompile(`^127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "GET /api\?q=1 HTTP/1\.1" 502 \d+ "-" "curl/8\.5\.0" kong_request_id: "` + id + `" upstream_status: "502" kong_latency: \d+ upstream_latency: \d+ request_latency: \d+\n$`).MatchString(acc) {
		t.Errorf("access sink: %q", acc)
	}
}

// syncBuffer is a bytes.Buffer safe for the gateway's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestRouting(t *testing.T) {
	up := echoUpstream(t)
	g := startGateway(t, `_format_version: "3.0"
services:
- name: svc
  url: `+up.URL+`/s
  routes:
  - name: prefix
    paths: ["/api"]
  - name: longer
    paths: ["/api/v2"]
    strip_path: false
  - name: regex
    paths: ["~/users/\\d+$"]
  - name: hosted
    hosts: ["shop.example.com"]
    paths: ["/api"]
    preserve_host: true
  - name: methods
    methods: ["DELETE"]
    paths: ["/api"]
  - name: secure
    protocols: ["https"]
    paths: ["/secure"]
- name: off
  url: `+up.URL+`
  enabled: false
  routes:
  - paths: ["/off"]
`)
	cases := []struct {
		method, path, host string
		status             int
		upPath, upHost     string
		route              string
	}{
		{"GET", "/api/items", "", 200, "/s/items", "", "prefix"},
		{"GET", "/api/v2/items", "", 200, "/s/api/v2/items", "", "longer"},
		{"GET", "/users/42", "", 200, "/s", "", "regex"},
		{"GET", "/users/42/x", "", 404, "", "", ""},
		{"GET", "/api/x", "shop.example.com", 200, "/s/x", "shop.example.com", "hosted"},
		{"DELETE", "/api/x", "", 200, "/s/x", "", "methods"},
		{"GET", "/secure", "", 426, "", "", ""},
		{"GET", "/off", "", 404, "", "", ""},
	}
	for _, tc := range cases {
		hdr := map[string]string{}
		if tc.host != "" {
			hdr["Host"] = tc.host
		}
		res := do(t, tc.method, g.ProxyURL()+tc.path, hdr, "")
		if res.status != tc.status {
			t.Errorf("%s %s (host %q): %d %q, want %d", tc.method, tc.path, tc.host, res.status, res.body, tc.status)
			continue
		}
		if tc.status != 200 {
			continue
		}
		e := decodeEcho(t, res.body)
		if e.Path != tc.upPath || (tc.upHost != "" && e.Host != tc.upHost) {
			t.Errorf("%s %s: upstream path %q host %q, want %q %q", tc.method, tc.path, e.Path, e.Host, tc.upPath, tc.upHost)
		}
		acc := g.accessEntries()
		if r := acc[len(acc)-1].Route; r != tc.route {
			t.Errorf("%s %s matched route %q, want %q", tc.method, tc.path, r, tc.route)
		}
	}
}

func TestUpstreamPathJoin(t *testing.T) {
	cases := []struct {
		svc, req, matched string
		strip             bool
		want              string
	}{
		{"/s", "/fv0req", "/fv0", true, "/sreq"},
		{"/s", "/fv0/req", "/fv0", true, "/s/req"},
		{"/s/", "/fv0/req", "/fv0", true, "/s/req"},
		{"/s", "/fv0", "/fv0", true, "/s"},
		{"", "/fv0", "/fv0", true, "/"},
		{"", "/fv0/req", "/fv0", false, "/fv0/req"},
		{"/s", "/fv0/req", "/fv0", false, "/s/fv0/req"},
		{"/s/", "/fv0/req", "/fv0", false, "/s/fv0/req"},
	}
	for _, tc := range cases {
		if got := upstreamPath(tc.svc, tc.req, tc.matched, tc.strip); got != tc.want {
			t.Errorf("service %q request %q strip %v: %q, want %q", tc.svc, tc.req, tc.strip, got, tc.want)
		}
	}
}
