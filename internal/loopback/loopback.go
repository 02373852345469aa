// Package loopback is the lab's network rule in code: load, fault and proxy
// traffic goes only to 127.0.0.0/8 or ::1, unless a host was explicitly
// allowed. Every component that connects on someone else's say-so (the load
// generator, the load balancer, the TLS-inspecting proxy) dials through it.
package loopback

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
)

// ErrNotLoopback is wrapped by every refusal.
var ErrNotLoopback = errors.New("not loopback: lab traffic goes only to 127.0.0.0/8 or ::1")

// Host says whether host (a name or an IP literal, without port or
// brackets) is loopback by its spelling alone: "localhost" (any case) or a
// loopback IP, IPv4-mapped IPv6 included. A zone or any other name is not.
func Host(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Zone() == "" && ip.Unmap().IsLoopback()
}

// Control is a net.Dialer Control hook: it refuses a resolved address that
// is not loopback after the socket is made and before connect, so a refused
// address is never sent a packet, whatever a name resolved to.
func Control(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	if !Host(host) || strings.EqualFold(host, "localhost") { // resolved: must be an IP
		return fmt.Errorf("refusing to connect to %s: %w", address, ErrNotLoopback)
	}
	return nil
}

// Dial wraps d for http.Transport.DialContext and the like. An address
// whose host allowed(host) accepts is dialled as is. Any other must be
// loopback by spelling (so no DNS query for a foreign name ever leaves the
// machine) and must resolve to loopback (Control).
func Dial(d *net.Dialer, allowed func(host string) bool) func(ctx context.Context, network, addr string) (net.Conn, error) {
	guarded := *d
	guarded.Control = Control
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("dial %q: %w", addr, err)
		}
		if allowed != nil && allowed(host) {
			return d.DialContext(ctx, network, addr)
		}
		if !Host(host) {
			return nil, fmt.Errorf("refusing to connect to %s: %w", addr, ErrNotLoopback)
		}
		return guarded.DialContext(ctx, network, addr)
	}
}
