package kong

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func httpsOnlyConfig(upURL string) string {
	return `_format_version: "3.0"
services:
- name: s
  url: ` + upURL + `
  routes:
  - name: secure
    paths: [/secure]
    protocols: [https]
  - name: plain
    paths: [/plain]
`
}

// Kong believes X-Forwarded-Proto only from trusted_ips: an https-only route
// is 426 for anyone else, and proxied for a trusted TLS-offloading LB.
func TestTrustedIPsForwardedProto(t *testing.T) {
	up := echoUpstream(t)
	xfp := map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.example.com", "X-Forwarded-Port": "443"}

	untrusted := startGateway(t, httpsOnlyConfig(up.URL))
	r := do(t, "GET", untrusted.ProxyURL()+"/secure", xfp, "")
	if r.status != 426 || !strings.Contains(r.body, "Please use HTTPS protocol") || r.header.Get("Upgrade") != "TLS/1.2, HTTP/1.1" {
		t.Fatalf("untrusted peer with X-Forwarded-Proto https: got %d %q %v, want Kong's 426", r.status, r.body, r.header)
	}
	e := decodeEcho(t, do(t, "GET", untrusted.ProxyURL()+"/plain", xfp, "").body)
	if e.Header.Get("X-Forwarded-Proto") != "http" || e.Header.Get("X-Forwarded-Host") == "api.example.com" {
		t.Fatalf("untrusted peer: upstream got %v, want Kong's own view", e.Header)
	}

	trusted := startGateway(t, httpsOnlyConfig(up.URL), func(o *Options) { o.TrustedIPs = []string{"10.0.0.0/8, 127.0.0.1"} })
	r = do(t, "GET", trusted.ProxyURL()+"/secure", xfp, "")
	if r.status != 200 {
		t.Fatalf("trusted peer with X-Forwarded-Proto https: got %d %q", r.status, r.body)
	}
	e = decodeEcho(t, r.body)
	for k, want := range map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.example.com", "X-Forwarded-Port": "443"} {
		if got := e.Header.Get(k); got != want {
			t.Errorf("trusted peer: upstream %s = %q, want %q", k, got, want)
		}
	}
	if r := do(t, "GET", trusted.ProxyURL()+"/secure", nil, ""); r.status != 426 {
		t.Fatalf("trusted peer without X-Forwarded-Proto: got %d, want 426", r.status)
	}
}

func TestTrustedIPsBad(t *testing.T) {
	_, err := Start(t.Context(), Options{Config: []byte(httpsOnlyConfig("http://127.0.0.1:1")), TrustedIPs: []string{"127.0.0.1,not-an-ip"}})
	if err == nil || !strings.Contains(err.Error(), `trusted_ips: "not-an-ip"`) {
		t.Fatalf("got %v", err)
	}
}

// The rest of a body sent beyond its Content-Length is the start of the
// next request on the connection: Kong answers it with its plain-text 400
// and closes, as measured on Kong 3.9.1.
func TestGarbageRequestIsKongs400(t *testing.T) {
	up := echoUpstream(t)
	g := startGateway(t, httpsOnlyConfig(up.URL))
	c, err := net.Dial("tcp", strings.TrimPrefix(g.ProxyURL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "POST /plain HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"+`{"qty":1}`+"GET /plain HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	first, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(first.Body)
	if first.StatusCode != 200 || decodeEcho(t, string(b)).Body != `{"qty` {
		t.Fatalf("first: %d %q, want 200 with the body cut at Content-Length", first.StatusCode, b)
	}
	second, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(second.Body)
	id := second.Header.Get("X-Kong-Request-Id")
	if second.StatusCode != 400 || string(b) != "Bad request\nrequest_id: "+id+"\n" || len(id) != 32 ||
		second.Header.Get("Server") != "kong/3.9.1" || !second.Close || second.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Fatalf("second: %d %v %q, want Kong's 400", second.StatusCode, second.Header, b)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("the connection stays open after the 400: %v", err)
	}
}

func TestIsGoBadRequest(t *testing.T) {
	for s, want := range map[string]bool{
		"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request":                            true,
		"HTTP/1.1 400 Bad Request: bad Host\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request: bad Host":        true,
		"HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\nContent-Type: text/plain; charset=utf-8\r\nDate: x\r\n\r\nbad":                             false,
		"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request and more the upstream sent": false,
	} {
		if got := isGoBadRequest([]byte(s)); got != want {
			t.Errorf("%q: got %v", s, got)
		}
	}
}
