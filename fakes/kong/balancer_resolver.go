package kong

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// hostResolver turns a service or target host name into addresses. The
// emulation never asks the system resolver: names resolve through this
// interface only, so a lab cannot leak DNS queries off the machine.
type hostResolver interface {
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// ttlResolver is a hostResolver that also says how long an answer may be
// cached, as Kong caches DNS answers for their TTL.
type ttlResolver interface {
	hostResolver
	LookupHostTTL(ctx context.Context, host string) ([]string, time.Duration, error)
}

// staticResolver answers from a fixed table (name -> addresses) and fails
// every other name with a DNS "name error". It is the library default
// (empty: only IP literals and localhost resolve).
type staticResolver map[string][]string

func (s staticResolver) LookupHost(_ context.Context, host string) ([]string, error) {
	if addrs, ok := s[strings.ToLower(strings.TrimSuffix(host, "."))]; ok && len(addrs) > 0 {
		return addrs, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// dnsResolver asks one DNS server for A records with miekg/dns. The server
// must be on loopback (a fake DNS of the lab).
type dnsResolver struct {
	server string
	client *dns.Client
}

// newDNSResolver returns a resolver querying server ("127.0.0.1:5353").
func newDNSResolver(server string) (*dnsResolver, error) {
	host, _, err := net.SplitHostPort(server)
	if err != nil {
		return nil, fmt.Errorf("dns server %q: want IP:PORT", server)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("dns server %q: must be a loopback IP (the emulation never queries DNS off the machine)", server)
	}
	return &dnsResolver{server: server, client: &dns.Client{Net: "udp", Timeout: 2 * time.Second}}, nil
}

func (d *dnsResolver) LookupHost(ctx context.Context, host string) ([]string, error) {
	addrs, _, err := d.LookupHostTTL(ctx, host)
	return addrs, err
}

func (d *dnsResolver) LookupHostTTL(ctx context.Context, host string) ([]string, time.Duration, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(host), dns.TypeA)
	resp, _, err := d.client.ExchangeContext(ctx, m, d.server)
	if err != nil {
		return nil, 0, &net.DNSError{Err: "dns server error: " + err.Error(), Name: host, Server: d.server, IsTemporary: true}
	}
	if resp.Rcode != dns.RcodeSuccess {
		return nil, 0, &net.DNSError{Err: fmt.Sprintf("dns server error: %d %s", resp.Rcode, rcodeText(resp.Rcode)),
			Name: host, Server: d.server, IsNotFound: resp.Rcode == dns.RcodeNameError}
	}
	var out []string
	ttl := time.Duration(-1)
	for _, rr := range resp.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
			if t := time.Duration(a.Hdr.Ttl) * time.Second; ttl < 0 || t < ttl {
				ttl = t
			}
		}
	}
	if len(out) == 0 {
		return nil, 0, &net.DNSError{Err: "dns client error: 101 empty record received", Name: host, Server: d.server, IsNotFound: true}
	}
	return out, ttl, nil
}

// cachingResolver applies the local rules (IP literals, localhost) and
// caches positive answers for their TTL. Failures are not cached, so a lab
// that breaks DNS sees the failure on the next request once the TTL is out.
type cachingResolver struct {
	next hostResolver
	mu   sync.Mutex
	c    map[string]cachedAnswer
}

type cachedAnswer struct {
	addrs   []string
	expires time.Time
}

func newCachingResolver(r hostResolver) *cachingResolver {
	if r == nil {
		r = staticResolver{}
	}
	return &cachingResolver{next: r, c: map[string]cachedAnswer{}}
}

func (c *cachingResolver) lookup(ctx context.Context, host string) ([]string, error) {
	h := strings.Trim(host, "[]")
	if _, err := netip.ParseAddr(h); err == nil {
		return []string{h}, nil
	}
	if strings.EqualFold(h, "localhost") {
		return []string{"127.0.0.1"}, nil
	}
	now := time.Now()
	c.mu.Lock()
	a, ok := c.c[h]
	c.mu.Unlock()
	if ok && now.Before(a.expires) {
		return a.addrs, nil
	}
	var addrs []string
	var ttl time.Duration
	var err error
	if tr, ok := c.next.(ttlResolver); ok {
		addrs, ttl, err = tr.LookupHostTTL(ctx, h)
	} else {
		addrs, err = c.next.LookupHost(ctx, h)
	}
	if err != nil {
		return nil, err
	}
	if len(addrs) == 0 {
		return nil, &net.DNSError{Err: "dns client error: 101 empty record received", Name: h, IsNotFound: true}
	}
	if ttl > 0 {
		c.mu.Lock()
		c.c[h] = cachedAnswer{addrs: addrs, expires: now.Add(ttl)}
		c.mu.Unlock()
	}
	return addrs, nil
}

// dnsErrorText renders a resolution failure the way Kong's DNS client words
// it in the error log.
func dnsErrorText(err error) string {
	if de, ok := err.(*net.DNSError); ok {
		if de.IsNotFound && de.Err == "no such host" {
			return "dns server error: 3 name error"
		}
		return de.Err
	}
	return err.Error()
}

// rcodeText is lua-resty-dns's wording of an rcode, which Kong logs.
func rcodeText(rc int) string {
	switch rc {
	case dns.RcodeFormatError:
		return "format error"
	case dns.RcodeServerFailure:
		return "server failure"
	case dns.RcodeNameError:
		return "name error"
	case dns.RcodeNotImplemented:
		return "not implemented"
	case dns.RcodeRefused:
		return "refused"
	}
	return strings.ToLower(dns.RcodeToString[rc])
}
