package kong

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Kong's trusted_ips (kong.conf): from a trusted peer (an LB terminating
// TLS), the client's X-Forwarded-Proto, -Host, -Port, -Path and -Prefix are
// believed; from anyone else Kong uses its own view (runloop/handler.lua,
// "X-Forwarded-* Headers Parsing"). The https-only check of a route and the
// X-Forwarded-* headers sent upstream both use the result. Default: no
// peer is trusted.

// parseTrustedIPs reads trusted_ips: IPs and CIDRs, comma separated;
// "unix" is accepted and ignored (the lab listens on TCP only).
func parseTrustedIPs(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, raw := range list {
		for _, s := range strings.Split(raw, ",") {
			s = strings.TrimSpace(s)
			switch {
			case s == "" || s == "unix":
				continue
			case strings.Contains(s, "/"):
				p, err := netip.ParsePrefix(s)
				if err != nil {
					return nil, fmt.Errorf("trusted_ips: %q is not an IP or CIDR", s)
				}
				out = append(out, p.Masked())
			default:
				a, err := netip.ParseAddr(s)
				if err != nil {
					return nil, fmt.Errorf("trusted_ips: %q is not an IP or CIDR", s)
				}
				out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			}
		}
	}
	return out, nil
}

// trustedPeer says whether the connection's peer is in trusted_ips.
func (g *Gateway) trustedPeer(r *http.Request) bool {
	if len(g.trusted) == 0 {
		return false
	}
	a, err := netip.ParseAddr(clientIP(r))
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range g.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwarded is the client's X-Forwarded-<name> when the peer is trusted,
// else "" (use Kong's own view).
func (c *reqCtx) forwarded(name string) string {
	if !c.trusted {
		return ""
	}
	return c.r.Header.Get("X-Forwarded-" + name)
}

// forwardedProto is what Kong believes the client's scheme was.
func (c *reqCtx) forwardedProto() string {
	if p := c.forwarded("Proto"); p != "" {
		return p
	}
	return "http" // the lab's proxy listener is plain HTTP
}

// forwardedHost is $host (no port) or a trusted X-Forwarded-Host.
func (c *reqCtx) forwardedHost() string {
	if h := c.forwarded("Host"); h != "" {
		return h
	}
	return hostOnly(c.r.Host)
}

// listenerPort is nginx's $server_port.
func listenerPort(r *http.Request) string {
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if _, p, err := net.SplitHostPort(la.String()); err == nil {
			return p
		}
	}
	return ""
}

// trustedIPsConf is trusted_ips as the Admin API's / shows it: the list as
// configured, {} (an empty Lua table) when none.
func (g *Gateway) trustedIPsConf() any {
	var out []string
	for _, raw := range g.opts.TrustedIPs {
		for _, s := range strings.Split(raw, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	if len(out) == 0 {
		return map[string]any{}
	}
	return out
}
