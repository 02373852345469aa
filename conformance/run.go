package conformance

import (
	"context"
	"fmt"
	"net"
	"sort"
	"time"

	"github.com/chaoslab/chaoslab/fakes/dns"
	"github.com/chaoslab/chaoslab/fakes/upstream"
	"github.com/chaoslab/chaoslab/lab"
)

// Side is one gateway implementation: it starts a gateway for a kong.yml
// in a lab (whose Close stops it).
type Side struct {
	Name  string
	Start func(ctx context.Context, l *lab.Lab, kongYAML string, o lab.GatewayOptions) (Target, error)
}

// Emulation is fakes/kong started through lab's embedded backend.
func Emulation() Side {
	return Side{Name: "emulation", Start: func(ctx context.Context, l *lab.Lab, y string, o lab.GatewayOptions) (Target, error) {
		return startAs(ctx, l, y, "emulation", o)
	}}
}

// CaseResult is one case on both sides.
type CaseResult struct {
	Case     Case       `json:"-"`
	Name     string     `json:"name"`
	Group    string     `json:"group"`
	Request  string     `json:"request"`
	Left     Normalised `json:"left"`
	Right    Normalised `json:"right"`
	Diffs    []Diff     `json:"diffs,omitempty"`    // unexplained: the case fails
	Excepted []Excused  `json:"excepted,omitempty"` // explained in exceptions.yaml
	// Expectation failures (facts/kong.md) per side.
	LeftExpect  []Diff `json:"left_expect,omitempty"`
	RightExpect []Diff `json:"right_expect,omitempty"`
}

// Excused is a difference with the exception that explains it.
type Excused struct {
	Diff   Diff   `json:"diff"`
	Reason string `json:"reason"`
}

// Passed: no unexplained difference and both sides meet the expectation.
func (r CaseResult) Passed() bool {
	return len(r.Diffs) == 0 && len(r.LeftExpect) == 0 && len(r.RightExpect) == 0
}

// Result is a whole run.
type Result struct {
	Left, Right string
	Started     time.Time
	Cases       []CaseResult
	// Unused lists exceptions no difference needed (stale entries).
	Unused []Exception
}

// Topology is the lab both gateways share: one echoing upstream (through
// its fault proxy), a loopback port nothing listens on, and a fake DNS
// both gateways resolve through (one name, every other a name error).
type Topology struct {
	Lab    *lab.Lab
	Echo   *lab.Upstream
	Closed string
	DNS    string
}

// NewTopology starts the shared upstreams in l.
func NewTopology(ctx context.Context, l *lab.Lab) (*Topology, error) {
	echo, err := l.Upstream(ctx, "echo", upstream.Config{Rules: map[string]upstream.Behaviour{
		"/hang":    {Mode: upstream.ModeHang},
		"/fail500": {Status: 500},
	}})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	closed := ln.Addr().String()
	_ = ln.Close()
	srv, err := dns.Start(ctx, dns.Config{Records: map[string][]string{dnsName: {"127.0.0.1"}}})
	if err != nil {
		return nil, err
	}
	l.OnClose("fake DNS", srv.Close)
	return &Topology{Lab: l, Echo: echo, Closed: closed, DNS: srv.Addr()}, nil
}

// Config is the suite's kong.yml for this topology.
func (t *Topology) Config() string { return Config(t.Echo.Addr(), t.Closed) }

func (t *Topology) served(ctx context.Context) int64 {
	st, err := t.Echo.Control.Stats(ctx)
	if err != nil {
		return -1
	}
	return st.Requests
}

// observeAll starts side's gateway and runs every case against it in order.
func (t *Topology) observeAll(ctx context.Context, side Side, cases []Case) ([]Normalised, []time.Duration, error) {
	g, err := side.Start(ctx, t.Lab, t.Config(), lab.GatewayOptions{DNS: t.DNS, TrustedIPs: TrustedPeer})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", side.Name, err)
	}
	n := NewNormaliser(g)
	out := make([]Normalised, len(cases))
	took := make([]time.Duration, len(cases))
	for i, c := range cases {
		o := Observe(ctx, g, c, t.served)
		out[i], took[i] = Normalise(c, o, n), o.Elapsed
	}
	return out, took, nil
}

// Run runs cases on left (the reference: real Kong) and right (the
// emulation), one gateway after the other on the same upstreams, and
// applies the exceptions.
func Run(ctx context.Context, t *Topology, left, right Side, cases []Case, exc []Exception) (*Result, error) {
	res := &Result{Left: left.Name, Right: right.Name, Started: time.Now()}
	lo, lt, err := t.observeAll(ctx, left, cases)
	if err != nil {
		return nil, err
	}
	ro, rt, err := t.observeAll(ctx, right, cases)
	if err != nil {
		return nil, err
	}
	used := make([]bool, len(exc))
	for i, c := range cases {
		r := CaseResult{Case: c, Name: c.Name, Group: c.Group, Request: describe(c), Left: lo[i], Right: ro[i],
			LeftExpect: Check(c, lo[i], lt[i]), RightExpect: Check(c, ro[i], rt[i])}
	diffs:
		for _, d := range Diffs(c, lo[i], ro[i]) {
			for j, e := range exc {
				if e.covers(c.Name, d) {
					used[j] = true
					r.Excepted = append(r.Excepted, Excused{Diff: d, Reason: e.Reason})
					continue diffs
				}
			}
			r.Diffs = append(r.Diffs, d)
		}
		res.Cases = append(res.Cases, r)
	}
	for j, e := range exc {
		if !used[j] {
			res.Unused = append(res.Unused, e)
		}
	}
	return res, nil
}

func describe(c Case) string {
	s := c.Req.Method + " " + c.Req.Path
	if c.Admin {
		s = "admin " + s
	}
	if c.Req.Host != "" {
		s += " Host: " + c.Req.Host
	}
	keys := make([]string, 0, len(c.Req.Headers))
	for k := range c.Req.Headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := c.Req.Headers[k]
		if len(v) > 40 {
			v = v[:37] + "..."
		}
		s += " " + k + ": " + v
	}
	if c.Req.Body != "" {
		s += fmt.Sprintf(" (%d-byte body)", len(c.Req.Body))
	}
	if c.Repeat > 0 {
		s += fmt.Sprintf(" (after %d more)", c.Repeat)
	}
	if c.Req.From != "" {
		s += " (from " + c.Req.From + ", in trusted_ips)"
	}
	if c.Req.Trailing != "" {
		s += fmt.Sprintf(" (then %q on the same connection: its answer is compared)", c.Req.Trailing)
	}
	return s
}

// Counts: passed, failed, excepted (passed thanks to an exception).
func (r *Result) Counts() (passed, failed, excepted int) {
	for _, c := range r.Cases {
		switch {
		case !c.Passed():
			failed++
		case len(c.Excepted) > 0:
			excepted++
			passed++
		default:
			passed++
		}
	}
	return
}
