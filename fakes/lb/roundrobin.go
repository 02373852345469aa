package lb

import (
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
)

// Several backends: the hop in front of a Kong cluster, handing requests to
// the nodes in turn (round robin), as an F5 pool or a cloud LB's target
// group does by default. Backend is the first node; Backends are the others.

// roundRobin sends each request to the next backend. It only swaps the
// host: every backend has Backend's scheme and base path.
type roundRobin struct {
	base  http.RoundTripper
	hosts []string
	next  atomic.Uint64
	sent  []atomic.Int64 // requests sent to each backend, in hosts order
}

// newRoundRobin checks the extra backends against the first; nil when
// there is only one.
func newRoundRobin(first *url.URL, more string, allowNonLoopback bool, base http.RoundTripper) (*roundRobin, error) {
	if more == "" {
		return nil, nil
	}
	rr := &roundRobin{base: base, hosts: []string{first.Host}}
	for _, raw := range strings.Split(more, ",") {
		u, err := parseBackend(raw, allowNonLoopback)
		if err != nil {
			return nil, fmt.Errorf("--also-backend%s", strings.TrimPrefix(err.Error(), "--backend"))
		}
		if u.Path != first.Path {
			return nil, fmt.Errorf("--also-backend: every backend must have --backend's path %q, got %q", first.Path, raw)
		}
		rr.hosts = append(rr.hosts, u.Host)
	}
	rr.sent = make([]atomic.Int64, len(rr.hosts))
	return rr, nil
}

func (rr *roundRobin) RoundTrip(req *http.Request) (*http.Response, error) {
	i := int((rr.next.Add(1) - 1) % uint64(len(rr.hosts)))
	rr.sent[i].Add(1)
	out := req.Clone(req.Context())
	out.URL.Host = rr.hosts[i]
	return rr.base.RoundTrip(out)
}

// Sent is how many requests went to each backend, by host:port (nil with a
// single backend).
func (s *Server) Sent() map[string]int64 {
	if s.rr == nil {
		return nil
	}
	out := make(map[string]int64, len(s.rr.hosts))
	for i, h := range s.rr.hosts {
		out[h] += s.rr.sent[i].Load()
	}
	return out
}

// registerBackendsFlag binds --also-backend (repeatable).
func (c *Config) registerBackendsFlag(fs *flag.FlagSet) {
	fs.Func("also-backend", "another backend (http://127.0.0.1:PORT, loopback only), repeatable: requests go to --backend and these in turn (round robin)", func(v string) error {
		if strings.Contains(v, ",") {
			return fmt.Errorf("one backend per --also-backend, got %q", v)
		}
		if c.Backends != "" {
			c.Backends += ","
		}
		c.Backends += v
		return nil
	})
}

func (c Config) backendsArgs() []string {
	var a []string
	if c.Backends == "" {
		return nil
	}
	for _, b := range strings.Split(c.Backends, ",") {
		a = append(a, "--also-backend", b)
	}
	return a
}
