package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
)

// Resolver is a stub resolver with the search-list semantics of glibc, which
// are what a Kubernetes pod's /etc/resolv.conf (search <ns>.svc.cluster.local
// svc.cluster.local cluster.local; options ndots:5) turns into extra queries:
//
//   - a name ending in "." is fully qualified: one lookup, as is;
//   - a name with fewer than Ndots dots is tried with each search domain
//     appended first, in order, and then as is;
//   - a name with at least Ndots dots is tried as is first, then with each
//     search domain.
//
// Each lookup of a candidate name asks A and AAAA in parallel, as glibc's
// getaddrinfo(AF_UNSPEC) does (IPv4Only asks A only, like AF_INET). A
// candidate that answers NXDOMAIN, NODATA or SERVFAIL moves on to the next;
// the first candidate with an address wins. A timeout or network error ends
// the lookup: glibc's retries (attempts:2) and rotation over several
// servers are not modelled, since the lab has one server. Answers are not
// cached, like glibc (no nscd).
//
// Go's net.Resolver is not used because it cannot be pointed at a server on
// a custom port with a search list reliably. To keep lab traffic on the lab,
// Server must be a loopback address; anything else is refused before a
// packet is sent.
type Resolver struct {
	Server   string        // host:port of the lab DNS, loopback only
	Search   []string      // search domains, tried in order
	Ndots    int           // resolv.conf ndots; 0 or less means glibc's default, 1
	Timeout  time.Duration // per query; default 1s
	IPv4Only bool          // ask A only

	queries, lookups atomic.Int64
}

// Queries counts the DNS messages this resolver sent (A and AAAA separately,
// a TCP retry of a truncated answer too).
func (r *Resolver) Queries() int64 { return r.queries.Load() }

// Lookups counts the candidate names tried (one per name of the search
// expansion, whatever the number of types asked).
func (r *Resolver) Lookups() int64 { return r.lookups.Load() }

// Candidates is the search expansion of name, in the order glibc tries it.
func (r *Resolver) Candidates(name string) []string {
	if strings.HasSuffix(name, ".") {
		return []string{name}
	}
	ndots := r.Ndots
	if ndots <= 0 {
		ndots = 1
	}
	var searched []string
	for _, d := range r.Search {
		if d = strings.Trim(d, "."); d != "" {
			searched = append(searched, name+"."+d+".")
		}
	}
	if strings.Count(name, ".") >= ndots {
		return append([]string{name + "."}, searched...)
	}
	return append(searched, name+".")
}

// LookupHost resolves name to its addresses (IPv4 first). An IP address is
// returned as is. Errors are *net.DNSError, IsNotFound when no candidate had
// an address, IsTimeout when the server did not answer in time.
func (r *Resolver) LookupHost(ctx context.Context, name string) ([]string, error) {
	if ip, err := netip.ParseAddr(name); err == nil {
		return []string{ip.String()}, nil
	}
	if err := r.checkServer(); err != nil {
		return nil, &net.DNSError{Err: err.Error(), Name: name, Server: r.Server}
	}
	for _, cand := range r.Candidates(name) {
		r.lookups.Add(1)
		addrs, err := r.lookupOne(ctx, cand)
		if err != nil {
			return nil, &net.DNSError{Err: err.Error(), Name: name, Server: r.Server,
				IsTimeout: isTimeout(err), IsTemporary: isTimeout(err)}
		}
		if len(addrs) > 0 {
			return addrs, nil
		}
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, Server: r.Server, IsNotFound: true}
}

// checkServer refuses any server that is not on loopback.
func (r *Resolver) checkServer() error {
	host, _, err := net.SplitHostPort(r.Server)
	if err != nil {
		return fmt.Errorf("resolver server %q: %v", r.Server, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return fmt.Errorf("resolver server %q: only a loopback IP address is allowed (the lab DNS)", r.Server)
	}
	return nil
}

// lookupOne asks for one candidate name's addresses. No addresses and no
// error means "try the next candidate".
func (r *Resolver) lookupOne(ctx context.Context, name string) ([]string, error) {
	types := []uint16{mdns.TypeA, mdns.TypeAAAA}
	if r.IPv4Only {
		types = types[:1]
	}
	addrs := make([][]string, len(types))
	errs := make([]error, len(types))
	var wg sync.WaitGroup
	for i, t := range types {
		wg.Add(1)
		go func() {
			defer wg.Done()
			addrs[i], errs[i] = r.ask(ctx, name, t)
		}()
	}
	wg.Wait()
	var out []string
	for i := range types {
		if errs[i] != nil {
			return nil, errs[i]
		}
		out = append(out, addrs[i]...)
	}
	return out, nil
}

func (r *Resolver) ask(ctx context.Context, name string, qtype uint16) ([]string, error) {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = time.Second
	}
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = true
	var in *mdns.Msg
	var err error
	for _, proto := range []string{"udp", "tcp"} {
		r.queries.Add(1)
		c := &mdns.Client{Net: proto, Timeout: timeout}
		in, _, err = c.ExchangeContext(ctx, m, r.Server)
		if err != nil {
			return nil, err
		}
		if !in.Truncated {
			break
		}
	}
	switch in.Rcode {
	case mdns.RcodeSuccess, mdns.RcodeNameError, mdns.RcodeServerFailure:
	default:
		return nil, fmt.Errorf("%s %s: server answered %s", name, mdns.TypeToString[qtype], mdns.RcodeToString[in.Rcode])
	}
	var out []string
	for _, rr := range in.Answer {
		switch a := rr.(type) {
		case *mdns.A:
			out = append(out, a.A.String())
		case *mdns.AAAA:
			out = append(out, a.AAAA.String())
		}
	}
	return out, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded)
}
