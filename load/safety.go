package load

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"syscall"
	"time"
)

// checkTarget refuses anything that is not loopback unless allowed: a lab
// must never send load to a machine it does not own.
func (c *config) checkTarget(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("target %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("target %q: scheme must be http or https", raw)
	}
	return c.checkHost(u.Hostname(), "target "+raw)
}

func (c *config) checkHost(host, what string) error {
	if c.allowHosts[host] || isLoopback(host) {
		return nil
	}
	return fmt.Errorf("%s: host %q is not loopback; lab load goes only to 127.0.0.0/8, ::1 or localhost (allow a host explicitly with WithAllowHost)", what, host)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// guardDial wraps a dialer so that, at connect time, an address that is not
// loopback is refused unless its host was allowed. checkTarget sees only the
// URL; this sees what a name actually resolved to ("localhost" mapped
// elsewhere in /etc/hosts, a transport wrapper that rewrites the host). The
// check runs in the dialer's Control hook, after the socket is made and
// before connect: a refused address is never sent a packet.
func (c *config) guardDial(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("load: dial %q: %w", addr, err)
		}
		if c.allowHosts[host] {
			return d.DialContext(ctx, network, addr)
		}
		guarded := *d
		guarded.Control = func(_, address string, _ syscall.RawConn) error {
			h, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			if ip, err := netip.ParseAddr(h); err != nil || !ip.Unmap().IsLoopback() {
				return fmt.Errorf("load: %s resolved to %s, which is not loopback; lab load goes only to 127.0.0.0/8 or ::1 (allow a host explicitly with WithAllowHost)", host, h)
			}
			return nil
		}
		return guarded.DialContext(ctx, network, addr)
	}
}

func (c *config) checkBounds(p Pacer, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("duration must be positive, got %s (an attack always ends by itself)", d)
	}
	if c.maxDuration > 0 && d > c.maxDuration {
		return fmt.Errorf("duration %s is over the cap of %s (raise it with WithMaxDuration)", d, c.maxDuration)
	}
	if r := p.MaxRate(d); c.maxRate > 0 && r > c.maxRate {
		return fmt.Errorf("rate %g/s is over the cap of %g/s (raise it with WithMaxRate)", r, c.maxRate)
	}
	if r := p.MaxRate(d); r <= 0 {
		return fmt.Errorf("rate must be positive, got %g/s", r)
	}
	return nil
}
