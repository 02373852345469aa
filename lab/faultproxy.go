package lab

import (
	"context"
	"fmt"
	"sync"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"
)

// FaultProxy is a toxiproxy proxy in front of one component. Scenarios apply
// faults to it; every apply is checked with a probe and recorded.
type FaultProxy struct {
	lab       *Lab
	name      string
	target    string
	proxy     *toxiclient.Proxy
	probeBase string // URL through the proxy for probes; "" = not HTTP

	mu       sync.Mutex
	seq      int
	baseline *ProbeResult
}

// Applied is one fault as it was applied and checked.
type Applied struct {
	Fault      Fault
	Toxic      string // toxiproxy toxic name ("" for down)
	At         time.Time
	RealisedAt time.Time
	Measured   string // what the probe saw, in words
	Realised   bool
}

// FaultProxy starts a toxiproxy proxy on 127.0.0.1 in front of target
// (host:port). probeURL, when not empty, is a URL path (e.g. "/__chaoslab/health")
// the lab requests through the proxy to check faults are realised.
func (l *Lab) FaultProxy(ctx context.Context, name, target, scheme, probePath string) (*FaultProxy, error) {
	if err := l.checkOpen(); err != nil {
		return nil, err
	}
	api, err := l.backend.Toxiproxy(ctx)
	if err != nil {
		return nil, err
	}
	l.watchToxiproxy()
	c := toxiclient.NewClient(api)
	p, err := c.CreateProxy(name, "127.0.0.1:0", target)
	if err != nil {
		return nil, fmt.Errorf("fault proxy %s -> %s: %w", name, target, err)
	}
	fp := &FaultProxy{lab: l, name: name, target: target, proxy: p}
	if probePath != "" {
		fp.probeBase = scheme + "://" + p.Listen + probePath
	}
	l.mu.Lock()
	l.proxies[name] = fp
	l.mu.Unlock()
	l.onClose("fault proxy "+name, func() error { return deleteProxy(p) })
	l.Record("started", name, "fault proxy "+p.Listen+" -> "+target)
	return fp, nil
}

// Addr is the proxy's listen address (host:port) — what clients should dial.
func (p *FaultProxy) Addr() string { return p.proxy.Listen }

// Name of the proxy.
func (p *FaultProxy) Name() string { return p.name }

func (p *FaultProxy) probeURL(body int) string {
	if body > 0 {
		return fmt.Sprintf("%s?body_size=%d", p.probeBase, body)
	}
	return p.probeBase
}

type bodyProber interface{ probeBody() int }

// Baseline probes the healthy path through the proxy (median of five), for
// comparing with probes under a fault. Apply calls it when needed.
func (p *FaultProxy) Baseline(ctx context.Context) (ProbeResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.baselineLocked(ctx)
}

func (p *FaultProxy) baselineLocked(ctx context.Context) (ProbeResult, error) {
	if p.baseline != nil {
		return *p.baseline, nil
	}
	r := medianProbe(ctx, p.probeURL(0), 2*time.Second, 5)
	if r.Err != nil {
		return r, fmt.Errorf("fault proxy %s: baseline probe failed before any fault: %w", p.name, r.Err)
	}
	p.baseline = &r
	return r, nil
}

// Apply injects f and checks, with a probe through the proxy, that it is
// realised. It returns an error when the probe does not show the fault: a
// scenario must not blame the system for a fault that never happened.
func (p *FaultProxy) Apply(ctx context.Context, f Fault) (*Applied, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var before ProbeResult
	if p.probeBase != "" {
		var err error
		if before, err = p.baselineLocked(ctx); err != nil {
			return nil, err
		}
	}
	a := &Applied{Fault: f, At: time.Now()}
	if t, ok := f.toxic(); ok {
		p.seq++
		t.Name = fmt.Sprintf("%s_%d", f.Kind(), p.seq)
		if _, err := p.proxy.AddToxic(t.Name, t.Type, t.Stream, t.Toxicity, t.Attributes); err != nil {
			return nil, fmt.Errorf("fault proxy %s: apply %s: %w", p.name, f, err)
		}
		a.Toxic = t.Name
	} else if err := p.proxy.Disable(); err != nil {
		return nil, fmt.Errorf("fault proxy %s: apply %s: %w", p.name, f, err)
	}
	p.lab.Record("fault-applied", p.name, f.String())
	if p.probeBase == "" {
		a.Measured, a.Realised = "not probed (not an HTTP component)", true
		return a, nil
	}
	body := 0
	if bp, ok := f.(bodyProber); ok {
		body = bp.probeBody()
	}
	// A toxic reaches new connections at once; three tries absorb a probe
	// that raced a scheduling stall on a busy machine.
	for try := 0; try < 3 && !a.Realised; try++ {
		after := probe(ctx, p.probeURL(body), f.probeTimeout())
		a.Measured, a.Realised = f.check(before, after)
	}
	a.RealisedAt = time.Now()
	if !a.Realised {
		p.lab.Record("fault-not-realised", p.name, f.String()+": "+a.Measured)
		return a, fmt.Errorf("fault proxy %s: %s applied but not realised: %s", p.name, f, a.Measured)
	}
	p.lab.Record("fault-realised", p.name, a.Measured)
	return a, nil
}

// Remove takes an applied fault away again and checks traffic flows.
func (p *FaultProxy) Remove(ctx context.Context, a *Applied) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var err error
	if a.Toxic != "" {
		err = p.proxy.RemoveToxic(a.Toxic)
	} else {
		err = p.proxy.Enable()
	}
	if err != nil {
		return fmt.Errorf("fault proxy %s: remove %s: %w", p.name, a.Fault, err)
	}
	p.lab.Record("fault-removed", p.name, a.Fault.String())
	if p.probeBase != "" {
		if r := probe(ctx, p.probeURL(0), 2*time.Second); r.Err != nil {
			return fmt.Errorf("fault proxy %s: %s removed but traffic does not flow: %w", p.name, a.Fault, r.Err)
		}
	}
	return nil
}

// deleteProxy removes the toxics before the proxy: removing a toxic interrupts
// it, while deleting a proxy under a latency toxic leaves its connection
// goroutines holding data for the whole delay after the lab is gone.
func deleteProxy(p *toxiclient.Proxy) error {
	ts, err := p.Toxics()
	if err == nil {
		for _, t := range ts {
			if rerr := p.RemoveToxic(t.Name); rerr != nil && err == nil {
				err = rerr
			}
		}
	}
	if derr := p.Delete(); derr != nil {
		return derr
	}
	return err
}

// ToxiproxyAPI is the base URL of the lab's toxiproxy HTTP API, for the
// commands a trainee runs by hand (`curl -X POST .../proxies/NAME/toxics`).
func (l *Lab) ToxiproxyAPI(ctx context.Context) (string, error) { return l.backend.Toxiproxy(ctx) }
