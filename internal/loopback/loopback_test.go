package loopback

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

func TestHost(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1": true, "127.9.9.9": true, "::1": true, "::ffff:127.0.0.1": true, "localhost": true, "LocalHost": true,
		"10.0.0.1": false, "::ffff:10.0.0.1": false, "0.0.0.0": false, "::": false, "127.0.0.1.evil": false,
		"localhost.": false, "2130706433": false, "0177.0.0.1": false, "fe80::1%lo": false, "::1%lo": false, "": false,
	} {
		if got := Host(host); got != want {
			t.Errorf("Host(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestDialRefusesBeforeAnyPacket(t *testing.T) {
	dial := Dial(&net.Dialer{Timeout: time.Second}, nil)
	for _, addr := range []string{"192.0.2.1:9", "[::ffff:10.0.0.1]:9", "example.invalid:80", "[2001:db8::1]:9"} {
		conn, err := dial(context.Background(), "tcp", addr)
		if err == nil {
			conn.Close()
			t.Fatalf("dialed %s", addr)
		}
		if !errors.Is(err, ErrNotLoopback) {
			t.Errorf("%s: want ErrNotLoopback, got %v", addr, err)
		}
	}
}

func TestDialLoopbackAndAllowed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	for _, addr := range []string{ln.Addr().String(), "localhost:" + port} {
		conn, err := Dial(&net.Dialer{Timeout: time.Second}, nil)(context.Background(), "tcp", addr)
		if err != nil {
			t.Fatalf("%s refused: %v", addr, err)
		}
		conn.Close()
	}
	// An allowed host skips the guard entirely (a container network's alias).
	called := ""
	allow := func(h string) bool { called = h; return h == "127.0.0.1" }
	conn, err := Dial(&net.Dialer{Timeout: time.Second}, allow)(context.Background(), "tcp", ln.Addr().String())
	if err != nil || called != "127.0.0.1" {
		t.Fatalf("allowed dial: %v (asked %q)", err, called)
	}
	conn.Close()
}
