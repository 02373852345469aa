// Package dns is the lab's DNS: an authoritative server for the lab's names
// (A and AAAA over UDP and TCP, NXDOMAIN for everything else, per-query
// latency, a query log) and a stub Resolver with glibc/Kubernetes search-list
// and ndots semantics, so a scenario can count what `ndots:5` costs.
package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/chaoslab/chaoslab/internal/recent"
)

// answerTTL is the TTL of every answer: short, so a cache in front of the
// lab DNS (there is none in the lab's own resolver) would not hide changes.
const answerTTL = 5

// maxLog bounds the query log; counters are never dropped.
const maxLog = 10000

// Config is the DNS server's start-up configuration.
type Config struct {
	Listen string // UDP and TCP on the same address; default 127.0.0.1:0
	// Records maps a name ("api.lab.internal", trailing dot optional) to its
	// addresses; IPv4 ones answer A queries, IPv6 ones AAAA queries.
	Records map[string][]string
	Latency time.Duration // before every answer
}

// Validate reports the first bad field as a one-line error naming its flag.
func (c Config) Validate() error {
	if c.Latency < 0 {
		return fmt.Errorf("--latency: must not be negative, got %s", c.Latency)
	}
	for name, ips := range c.Records {
		if err := validRecord(name, ips); err != nil {
			return err
		}
	}
	return nil
}

func validRecord(name string, ips []string) error {
	if !isHostname(name) {
		return fmt.Errorf("--record: %q is not a host name", name)
	}
	for _, ip := range ips {
		if _, err := netip.ParseAddr(ip); err != nil {
			return fmt.Errorf("--record: %s=%s: not an IP address", name, ip)
		}
	}
	return nil
}

// Query is one question as the server saw it.
type Query struct {
	Time  time.Time
	Name  string // as asked, lower case, with the trailing dot
	Type  string // "A", "AAAA", ...
	Rcode string // "NOERROR", "NXDOMAIN", ...; "" if not answered (closing)
	Proto string // "udp" or "tcp"
}

// Server is a running DNS server.
type Server struct {
	udp, tcp *mdns.Server
	addr     string

	mu      sync.RWMutex
	records map[string][]netip.Addr
	latency time.Duration
	log     recent.Log[*Query]
	byName  map[string]int64
	total   atomic.Int64

	done     chan struct{}
	closeOne sync.Once
	closeErr error
}

// Start binds UDP and TCP on one port and serves; ready when Start returns.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("dns: %w", err)
	}
	listen := cfg.Listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	pc, ln, err := listenBoth(ctx, listen)
	if err != nil {
		return nil, fmt.Errorf("dns: --listen %s: %w", listen, err)
	}
	s := &Server{log: recent.Log[*Query]{Max: maxLog}, addr: pc.LocalAddr().String(), records: map[string][]netip.Addr{},
		latency: cfg.Latency, byName: map[string]int64{}, done: make(chan struct{})}
	for name, ips := range cfg.Records {
		s.records[fqdn(name)] = parseIPs(ips)
	}
	started := make(chan struct{}, 2)
	notify := func() { started <- struct{}{} }
	s.udp = &mdns.Server{PacketConn: pc, Handler: s, NotifyStartedFunc: notify}
	s.tcp = &mdns.Server{Listener: ln, Handler: s, NotifyStartedFunc: notify}
	errc := make(chan error, 2)
	go func() { errc <- s.udp.ActivateAndServe() }()
	go func() { errc <- s.tcp.ActivateAndServe() }()
	for i := 0; i < 2; i++ {
		select {
		case <-started:
		case err := <-errc:
			// Could not start: closing the sockets ends the other loop too.
			close(s.done)
			_ = pc.Close()
			_ = ln.Close()
			<-errc
			return nil, fmt.Errorf("dns: serve: %w", err)
		}
	}
	return s, nil
}

// listenBoth binds UDP and then TCP on the same port, retrying with another
// port when listen asked for any port and TCP's was taken.
func listenBoth(ctx context.Context, listen string) (net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, nil, err
	}
	var lc net.ListenConfig
	for try := 0; ; try++ {
		pc, err := lc.ListenPacket(ctx, "udp", listen)
		if err != nil {
			return nil, nil, err
		}
		_, got, _ := net.SplitHostPort(pc.LocalAddr().String())
		ln, err := lc.Listen(ctx, "tcp", net.JoinHostPort(host, got))
		if err == nil {
			return pc, ln, nil
		}
		_ = pc.Close()
		if port != "0" || try == 20 {
			return nil, nil, err
		}
	}
}

// URL names the server ("dns://127.0.0.1:PORT").
func (s *Server) URL() string { return "dns://" + s.addr }

// Addr is host:port, the same for UDP and TCP: give it to a Resolver or to
// `dig @HOST -p PORT`.
func (s *Server) Addr() string { return s.addr }

// Info is the start-up report (fakes.Server).
func (s *Server) Info() map[string]string {
	host, port, _ := net.SplitHostPort(s.addr)
	return map[string]string{
		"udp+tcp": s.addr,
		"records": strings.Join(s.Names(), " "),
		"try":     fmt.Sprintf("dig @%s -p %s NAME", host, port),
	}
}

// Close stops both servers, dropping queries held by the latency. Idempotent.
func (s *Server) Close() error {
	s.closeOne.Do(func() {
		close(s.done)
		s.closeErr = errors.Join(s.udp.Shutdown(), s.tcp.Shutdown())
	})
	return s.closeErr
}

// SetLatency changes the delay before every answer.
func (s *Server) SetLatency(d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("--latency: must not be negative, got %s", d)
	}
	s.mu.Lock()
	s.latency = d
	s.mu.Unlock()
	return nil
}

// SetRecord sets (or with no ips, removes) the addresses of name.
func (s *Server) SetRecord(name string, ips ...string) error {
	if err := validRecord(name, ips); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(ips) == 0 {
		delete(s.records, fqdn(name))
		return nil
	}
	s.records[fqdn(name)] = parseIPs(ips)
	return nil
}

// Names lists the served names with their addresses ("name=ip,ip"), sorted.
func (s *Server) Names() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.records))
	for n, ips := range s.records {
		strs := make([]string, len(ips))
		for i, ip := range ips {
			strs[i] = ip.String()
		}
		out = append(out, strings.TrimSuffix(n, ".")+"="+strings.Join(strs, ","))
	}
	sort.Strings(out)
	return out
}

// Queries is the number of questions received.
func (s *Server) Queries() int64 { return s.total.Load() }

// QueriesFor counts the questions (any type) for name.
func (s *Server) QueriesFor(name string) int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.byName[fqdn(name)]
}

// Log returns the most recent queries (at most 10000), oldest first.
func (s *Server) Log() []Query {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Query, s.log.Len())
	for i, q := range s.log.All() {
		out[i] = *q
	}
	return out
}

// isHostname accepts dotted labels of letters, digits, '-' and '_' (the
// last for SRV-style names), 1-63 bytes each, with an optional final dot.
func isHostname(name string) bool {
	name = strings.TrimSuffix(name, ".")
	if name == "" || len(name) > 253 {
		return false
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

func fqdn(name string) string { return mdns.Fqdn(strings.ToLower(name)) }

func parseIPs(ips []string) []netip.Addr {
	out := make([]netip.Addr, 0, len(ips))
	for _, ip := range ips {
		out = append(out, netip.MustParseAddr(ip).Unmap())
	}
	return out
}
