package mitm

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A CONNECT or plain request for a server off loopback is refused before
// any packet (or DNS query) leaves: 502 with Proxy-Status
// destination_ip_prohibited, and the connection log says why.
func TestRefusesNonLoopbackDestinations(t *testing.T) {
	p, err := Start(context.Background(), Config{Mode: Tunnel})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, req := range []string{
		"CONNECT 192.0.2.1:443 HTTP/1.1\r\nHost: 192.0.2.1:443\r\n\r\n",
		"CONNECT example.invalid:443 HTTP/1.1\r\nHost: example.invalid:443\r\n\r\n",
		"GET http://[2001:db8::1]/ HTTP/1.1\r\nHost: [2001:db8::1]\r\n\r\n",
	} {
		resp := roundTrip(t, p, req)
		if resp == nil || resp.StatusCode != http.StatusBadGateway ||
			!strings.Contains(resp.Header.Get("Proxy-Status"), "destination_ip_prohibited") {
			t.Errorf("%q: want 502 destination_ip_prohibited, got %+v", strings.SplitN(req, "\r\n", 2)[0], resp)
		}
	}
	logs := strings.Join(p.LogLines(), "\n")
	if !strings.Contains(logs, "not loopback") {
		t.Errorf("the connection log does not say why:\n%s", logs)
	}
}

// FuzzRequest sends arbitrary bytes as the request head to a running proxy
// (tunnel mode: no certificate minting per input). Properties: no panic, an
// answer or a close within a bound, never a connection to a server off
// loopback (every refused dial is logged as such), and the proxy still
// serves a good CONNECT afterwards.
func FuzzRequest(f *testing.F) {
	for _, s := range []string{
		"CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n",
		"CONNECT 10.0.0.1:443 HTTP/1.1\r\n\r\n",
		"CONNECT [::ffff:10.0.0.1]:443 HTTP/1.1\r\n\r\n",
		"CONNECT localhost HTTP/1.1\r\n\r\n",
		"CONNECT 127.0.0.1.nip.io:443 HTTP/1.1\r\n\r\n",
		"GET http://10.0.0.1/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
		"GET http://127.0.0.1@10.0.0.1/ HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
		"CONNECT %zz HTTP/1.1\r\n\r\n",
		"\x16\x03\x01\x00\x05hello",
	} {
		f.Add([]byte(s))
	}
	target, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = target.Close() })
	go func() {
		for {
			c, err := target.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	p, err := Start(context.Background(), Config{Mode: Tunnel})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = p.Close() })

	f.Fuzz(func(t *testing.T, head []byte) {
		c, err := net.DialTimeout("tcp", p.ln.Addr().String(), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		_, _ = c.Write(head)
		_ = c.(*net.TCPConn).CloseWrite()
		if _, err := io.Copy(io.Discard, c); err != nil {
			t.Fatalf("%q: no answer and no close within 3 s: %v", head, err)
		}
		for _, e := range p.Connections() {
			if host, _, err := net.SplitHostPort(e.Host); err == nil && e.UpstreamVerify == "" && !isLoopbackLiteral(host) && host != "localhost" {
				t.Fatalf("after %q the proxy connected to %s", head, e.Host)
			}
		}
		resp := roundTrip(t, p, "CONNECT "+target.Addr().String()+" HTTP/1.1\r\n\r\n")
		if resp == nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("after %q a good CONNECT got %+v", head, resp)
		}
	})
}

func isLoopbackLiteral(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// roundTrip writes a raw request head and reads the answer's head.
func roundTrip(t *testing.T, p *Proxy, req string) *http.Response {
	t.Helper()
	c, err := net.DialTimeout("tcp", p.ln.Addr().String(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		return nil
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil
	}
	_ = resp.Body.Close()
	return resp
}
