package kong

import (
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRetriesFollowNginxRules: a never-answering upstream costs
// (retries+1) x read_timeout for GET; POST is not retried once sent;
// connect failures are retried for every method.
func TestRetriesFollowNginxRules(t *testing.T) {
	slow, hits := countingUpstream(t, 200, 3*time.Second)
	g := startGateway(t, serviceConfig(slow.URL, "read_timeout: 60\nretries: 3"))

	res := get(t, g.ProxyURL()+"/api/slow")
	if res.status != 504 {
		t.Fatalf("GET status %d", res.status)
	}
	if got := hits.Load(); got != 4 {
		t.Errorf("GET reached the upstream %d times, want 4 (retries+1)", got)
	}
	// 4 tries of 60ms: at least 240ms; far less than the upstream's 3s.
	if res.took < 200*time.Millisecond || res.took > 2*time.Second {
		t.Errorf("GET took %v, want about 4 x 60ms", res.took)
	}
	// Proxy latency is recomputed per try: the last try starts ~180ms in.
	if pl := res.header.Get("X-Kong-Proxy-Latency"); pl == "0" || pl == "" {
		t.Errorf("X-Kong-Proxy-Latency %q, want the time before the last try", pl)
	}
	acc := g.accessEntries()
	if us := acc[len(acc)-1].UpstreamStatus; us != "504, 504, 504, 504" {
		t.Errorf("upstream_status %q", us)
	}
	if n := strings.Count(strings.Join(g.errorLines(), "\n"), "while reading response header from upstream"); n != 4 {
		t.Errorf("%d error lines, want 4", n)
	}

	hits.Store(0)
	res = do(t, "POST", g.ProxyURL()+"/api/slow", nil, `{"a":1}`)
	if res.status != 504 || hits.Load() != 1 {
		t.Errorf("POST: status %d after %d tries, want 504 after 1", res.status, hits.Load())
	}
	hits.Store(0)
	res = do(t, "PUT", g.ProxyURL()+"/api/slow", nil, `{"a":1}`)
	if res.status != 504 || hits.Load() != 4 {
		t.Errorf("PUT: status %d after %d tries, want 504 after 4", res.status, hits.Load())
	}
}

func TestConnectFailuresRetriedForPost(t *testing.T) {
	g := startGateway(t, serviceConfig("http://"+refusedAddr(t), "retries: 2"))
	res := do(t, "POST", g.ProxyURL()+"/api/x", nil, "payload")
	if res.status != 502 {
		t.Fatalf("status %d", res.status)
	}
	if n := strings.Count(strings.Join(g.errorLines(), "\n"), "connect() failed (111: Connection refused) while connecting to upstream"); n != 3 {
		t.Errorf("%d connect errors logged, want 3 (POST retried on connect failure)", n)
	}
}

func TestRetryReachesHealthyPeerWithBody(t *testing.T) {
	// First try: a closing upstream; the balancer moves on to the echo one
	// and the body must be sent again.
	closeAddr, _ := closingUpstream(t)
	up := echoUpstream(t)
	upAddr := strings.TrimPrefix(up.URL, "http://")
	g := startGateway(t, `_format_version: "3.0"
upstreams:
- name: pool
  targets:
  - target: `+closeAddr+`
  - target: `+upAddr+`
services:
- name: svc
  host: pool
  retries: 1
  routes:
  - paths: ["/api"]
`)
	for i := 0; i < 4; i++ {
		res := do(t, "PUT", g.ProxyURL()+"/api/x", nil, "hello")
		if res.status != 200 {
			t.Fatalf("try %d: status %d %q", i, res.status, res.body)
		}
		// Host is the picked target's (real Kong 3.9.1), not the upstream name.
		if e := decodeEcho(t, res.body); e.Body != "hello" || e.Host != upAddr {
			t.Fatalf("upstream got body %q host %q", e.Body, e.Host)
		}
	}
}

// TestConnectTimeout fills a listener's accept queue (backlog 0) so further
// SYNs go unanswered, then expects nginx's connect-timeout line and 504.
func TestConnectTimeout(t *testing.T) {
	addr := blackholeAddr(t)
	g := startGateway(t, serviceConfig("http://"+addr, "connect_timeout: 50\nretries: 1"))
	res := get(t, g.ProxyURL()+"/api/x")
	if res.status != 504 {
		t.Fatalf("status %d %q", res.status, res.body)
	}
	if n := strings.Count(strings.Join(g.errorLines(), "\n"), "upstream timed out (110: Connection timed out) while connecting to upstream"); n != 2 {
		t.Errorf("%d connect timeouts logged, want 2: %q", n, g.errorLines())
	}
}

// blackholeAddr is a loopback listener whose accept queue is full.
func blackholeAddr(t *testing.T) string {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Skip("raw socket:", err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Skip("bind:", err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Skip("listen:", err)
	}
	sa, _ := syscall.Getsockname(fd)
	addr := (&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: sa.(*syscall.SockaddrInet4).Port}).String()
	// Fill the queue: with backlog 0 Linux keeps one connection waiting.
	for i := 0; i < 4; i++ {
		c, err := net.DialTimeout("tcp", addr, 50*time.Millisecond)
		if err != nil {
			return addr // the queue is full: SYNs are now dropped
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Skip("could not fill the accept queue on this kernel")
	return ""
}
