package kong

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// An upstream that closes every connection after answering, without saying
// "Connection: close": pooled connections go stale and must be replaced
// without the client seeing an error.
func TestStaleKeepAliveConnectionsAreReplaced(t *testing.T) {
	addr, accepted := rawUpstream(t, func(c *net.TCPConn) {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		c.Close()
	})
	g := startGateway(t, serviceConfig("http://"+addr, "retries: 0"))
	for i := 0; i < 20; i++ {
		if res := get(t, g.ProxyURL()+"/api"); res.status != 200 || res.body != "ok" {
			t.Fatalf("request %d: %d %q, log %q", i, res.status, res.body, g.errorLines())
		}
	}
	if l := g.errorLines(); len(l) != 0 {
		t.Errorf("stale connections logged errors: %q", l)
	}
	if accepted.Load() != 20 {
		t.Errorf("%d upstream connections for 20 requests", accepted.Load())
	}
}

func TestKeepAliveReusesConnections(t *testing.T) {
	var conns atomic.Int64
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	up.Start()
	t.Cleanup(up.Close)
	g := startGateway(t, serviceConfig(up.URL, ""))
	for i := 0; i < 20; i++ {
		get(t, g.ProxyURL()+"/api")
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d upstream connections for 20 sequential requests, want 1", n)
	}
}

func TestClientGoneIs499(t *testing.T) {
	slow, _ := countingUpstream(t, 200, 5*time.Second)
	g := startGateway(t, serviceConfig(slow.URL, "retries: 0"))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", g.ProxyURL()+"/api", nil)
	if _, err := testClient.Do(req); err == nil {
		t.Fatal("the client should have given up")
	}
	waitFor(t, "a 499 access log entry", func() bool {
		acc := g.accessEntries()
		return len(acc) == 1 && acc[0].Status == 499
	})
}

// The upstream sends its header and part of the body, then stalls: nginx's
// read_timeout applies between reads, the client gets a truncated answer.
func TestBodyStallTimesOut(t *testing.T) {
	release := make(chan struct{})
	addr, _ := rawUpstream(t, func(c *net.TCPConn) {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
		<-release
		c.Close()
	})
	defer close(release)
	g := startGateway(t, serviceConfig("http://"+addr, "read_timeout: 80"))
	conn, err := net.Dial("tcp", strings.TrimPrefix(g.ProxyURL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET /api HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || err == nil || string(body) != "0123456789" {
		t.Errorf("status %d body %q err %v; want 200, 10 bytes, then a cut connection", resp.StatusCode, body, err)
	}
	if l := lastErrorLine(g); !strings.Contains(l, "upstream timed out (110: Connection timed out) while reading upstream") {
		t.Errorf("log %q", l)
	}
}

func TestCloseWithRequestsInFlight(t *testing.T) {
	slow, _ := countingUpstream(t, 200, 5*time.Second)
	g, err := Start(context.Background(), Options{Config: []byte(serviceConfig(slow.URL, ""))})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		resp, err := testClient.Get(g.ProxyURL() + "/api")
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	waitFor(t, "the request to reach the gateway", func() bool { return g.inflight.Load() == 1 })
	start := time.Now()
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Close took %v with a request hanging on the upstream", took)
	}
	if g.inflight.Load() != 0 {
		t.Errorf("%d handlers still running after Close", g.inflight.Load())
	}
	<-done
	if err := g.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
