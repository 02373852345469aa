package load

import (
	"context"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzTargetSafety: whatever the URL, checkTarget never lets through a host
// that is not loopback (unless allowed), and never panics. The oracle is
// independent of checkTarget's code: it asks what host net/http would dial.
// Seeds in testdata/fuzz/FuzzTargetSafety: decimal, octal and hex IPs,
// IPv4-mapped IPv6, zones, userinfo tricks, trailing dots, lookalike names.
func FuzzTargetSafety(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw string) {
		c := defaults()
		if err := c.checkTarget(raw); err != nil {
			if !strings.Contains(err.Error(), "target") {
				t.Fatalf("error does not name the target: %v", err)
			}
			return
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("accepted %q which does not parse: %v", raw, err)
		}
		host := u.Hostname()
		if host == "localhost" {
			return
		}
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.Unmap().IsLoopback() {
			t.Fatalf("accepted %q: net/http would dial %q, which is not loopback", raw, host)
		}
	})
}

// The URL check cannot see what a name resolves to: the dialer refuses a
// non-loopback address before connecting (no packet is sent to it).
func TestGuardDialRefusesNonLoopbackAddresses(t *testing.T) {
	c := defaults()
	dial := c.guardDial(&net.Dialer{Timeout: time.Second})
	for _, addr := range []string{"192.0.2.1:9", "[::ffff:10.0.0.1]:9", "[2001:db8::1]:9"} {
		if conn, err := dial(context.Background(), "tcp", addr); err == nil {
			conn.Close()
			t.Errorf("dialed %s", addr)
		} else if !strings.Contains(err.Error(), "not loopback") {
			t.Errorf("%s: want a 'not loopback' refusal, got %v", addr, err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	conn, err := dial(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("loopback refused: %v", err)
	}
	conn.Close()
}

func TestGuardDialLetsAllowedHostsThrough(t *testing.T) {
	c := defaults()
	WithAllowHost("127.0.0.2")(&c) // an allowed name skips the guard; a loopback stand-in keeps the test local
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skip("127.0.0.2 not bindable here")
	}
	defer ln.Close()
	conn, err := c.guardDial(&net.Dialer{Timeout: time.Second})(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
}
