package kong

import (
	"context"
	"net"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/chaoslab/chaoslab/fakes/kong/internal/config"
)

// balancer is an upstream entity at run time: weighted round robin over
// its healthy targets (nginx's smooth weighted round robin, which spreads
// picks like Kong's ring of slots), plus the health state that active and
// passive checks update.
type balancer struct {
	up  *config.Upstream
	res *cachingResolver

	mu      sync.Mutex
	targets []*targetState

	activeOn, passiveOn bool
	// log receives Kong's healthcheckers.lua line when the balancer as a
	// whole turns UNHEALTHY or HEALTHY again (nil: not logged).
	log        func(msg string)
	stopChecks context.CancelFunc
	checksDone sync.WaitGroup
}

type targetState struct {
	t    *config.Target
	addr atomic.Value // last resolved "ip:port" (string)

	// guarded by balancer.mu
	current      int // smooth weighted round robin state
	healthy      bool
	dnsError     bool
	successes    int
	httpFailures int
	tcpFailures  int
	timeouts     int
	rr           int // round robin over the target's addresses

	changed chan struct{} // health flipped: active checker re-plans its interval
}

func newBalancer(up *config.Upstream, res *cachingResolver, log func(msg string)) *balancer {
	b := &balancer{up: up, res: res, log: log}
	for _, t := range up.Targets {
		b.targets = append(b.targets, &targetState{t: t, healthy: true, changed: make(chan struct{}, 1)})
	}
	hc := up.Healthchecks
	b.activeOn = hc.Active.Healthy.Interval > 0 || hc.Active.Unhealthy.Interval > 0
	pu := hc.Passive.Unhealthy
	b.passiveOn = pu.HTTPFailures > 0 || pu.TCPFailures > 0 || pu.Timeouts > 0 || hc.Passive.Healthy.Successes > 0
	return b
}

// pick chooses the next healthy target and resolves it to "ip:port".
// ok is false when no target can take traffic: Kong's "failure to get a
// peer from the ring-balancer".
func (b *balancer) pick(ctx context.Context) (ts *targetState, addr string, ok bool) {
	excluded := map[*targetState]bool{}
	for {
		b.mu.Lock()
		ts = b.next(excluded)
		b.mu.Unlock()
		if ts == nil {
			return nil, "", false
		}
		addrs, err := b.res.lookup(ctx, ts.t.Host)
		b.mu.Lock()
		ts.dnsError = err != nil
		if err == nil {
			addr = net.JoinHostPort(addrs[ts.rr%len(addrs)], strconv.Itoa(ts.t.Port))
			ts.rr++
		}
		b.mu.Unlock()
		if err != nil {
			excluded[ts] = true
			continue
		}
		ts.addr.Store(addr)
		return ts, addr, true
	}
}

// next is one step of smooth weighted round robin; caller holds mu. Below
// healthchecks.threshold (percent of weight healthy) the whole upstream
// counts as down, as in Kong.
func (b *balancer) next(excluded map[*targetState]bool) *targetState {
	if th := b.up.Healthchecks.Threshold; th > 0 {
		all, up := 0, 0
		for _, ts := range b.targets {
			all += ts.t.Weight
			if ts.healthy && !ts.dnsError {
				up += ts.t.Weight
			}
		}
		if all == 0 || float64(up)*100/float64(all) < th {
			return nil
		}
	}
	var best *targetState
	total := 0
	for _, ts := range b.targets {
		if ts.t.Weight == 0 || !ts.healthy || excluded[ts] {
			continue
		}
		ts.current += ts.t.Weight
		total += ts.t.Weight
		if best == nil || ts.current > best.current {
			best = ts
		}
	}
	if best != nil {
		best.current -= total
	}
	return best
}

// healthSource says whose thresholds apply to a report.
type healthSource int

const (
	fromActive healthSource = iota
	fromPassive
)

type healthOutcome int

const (
	outcomeSuccess healthOutcome = iota
	outcomeHTTPFailure
	outcomeTCPFailure
	outcomeTimeout
	outcomeIgnored
)

// classifyStatus maps a status to a health outcome using the healthy and
// unhealthy status lists of the source.
func (b *balancer) classifyStatus(src healthSource, status int) healthOutcome {
	hc := b.up.Healthchecks
	healthy, unhealthy := hc.Passive.Healthy.HTTPStatuses, hc.Passive.Unhealthy.HTTPStatuses
	if src == fromActive {
		healthy, unhealthy = hc.Active.Healthy.HTTPStatuses, hc.Active.Unhealthy.HTTPStatuses
	}
	if containsInt(unhealthy, status) {
		return outcomeHTTPFailure
	}
	if containsInt(healthy, status) {
		return outcomeSuccess
	}
	return outcomeIgnored
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// report applies one observation with lua-resty-healthcheck's counting: a
// success clears the failure counters and a failure clears the success
// counter; reaching a threshold flips the state and clears all counters.
// A threshold of 0 disables that kind of observation. A counted failure
// returns the counter and its threshold (lua-resty-healthcheck logs them).
func (b *balancer) report(ts *targetState, src healthSource, o healthOutcome) (count, limit int) {
	if o == outcomeIgnored {
		return 0, 0
	}
	if src == fromPassive && !b.passiveOn {
		return 0, 0
	}
	hc := b.up.Healthchecks
	var successes, httpF, tcpF, tmo int
	if src == fromActive {
		successes = hc.Active.Healthy.Successes
		httpF, tcpF, tmo = hc.Active.Unhealthy.HTTPFailures, hc.Active.Unhealthy.TCPFailures, hc.Active.Unhealthy.Timeouts
	} else {
		successes = hc.Passive.Healthy.Successes
		httpF, tcpF, tmo = hc.Passive.Unhealthy.HTTPFailures, hc.Passive.Unhealthy.TCPFailures, hc.Passive.Unhealthy.Timeouts
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	flip := func(healthy bool) {
		before := b.anyHealthyLocked()
		ts.healthy = healthy
		if after := b.anyHealthyLocked(); after != before && b.log != nil {
			state := map[bool]string{true: "HEALTHY", false: "UNHEALTHY"}[after]
			b.log("[lua] healthcheckers.lua:97: callback(): [healthchecks] balancer " + b.up.ID + ":" + b.up.Name +
				" reported health status changed to " + state + ", context: ngx.timer")
		}
		ts.successes, ts.httpFailures, ts.tcpFailures, ts.timeouts = 0, 0, 0, 0
		select {
		case ts.changed <- struct{}{}:
		default:
		}
	}
	switch o {
	case outcomeSuccess:
		if successes == 0 {
			return 0, 0
		}
		ts.httpFailures, ts.tcpFailures, ts.timeouts = 0, 0, 0
		ts.successes++
		if !ts.healthy && ts.successes >= successes {
			flip(true)
		}
	default:
		var counter *int
		switch o {
		case outcomeHTTPFailure:
			counter, limit = &ts.httpFailures, httpF
		case outcomeTCPFailure:
			counter, limit = &ts.tcpFailures, tcpF
		default:
			counter, limit = &ts.timeouts, tmo
		}
		if limit == 0 {
			return 0, 0
		}
		ts.successes = 0
		*counter++
		count = *counter
		if ts.healthy && *counter >= limit {
			flip(false)
		}
		return count, limit
	}
	return 0, 0
}

// anyHealthyLocked: some target can take traffic (b.mu held).
func (b *balancer) anyHealthyLocked() bool {
	for _, t := range b.targets {
		if t.healthy {
			return true
		}
	}
	return false
}

// targetHealth is one target's state for the Admin API.
type targetHealth struct {
	Target string
	Host   string
	Port   int
	Weight int
	Addr   string // last resolved ip:port
	Health string // HEALTHY, UNHEALTHY, DNS_ERROR, HEALTHCHECKS_OFF
}

func (b *balancer) health() []targetHealth {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]targetHealth, 0, len(b.targets))
	for _, ts := range b.targets {
		h := "HEALTHY"
		switch {
		case ts.dnsError:
			h = "DNS_ERROR"
		case !b.activeOn && !b.passiveOn:
			h = "HEALTHCHECKS_OFF"
		case !ts.healthy:
			h = "UNHEALTHY"
		}
		addr, _ := ts.addr.Load().(string)
		out = append(out, targetHealth{Target: ts.t.Target, Host: ts.t.Host, Port: ts.t.Port, Weight: ts.t.Weight, Addr: addr, Health: h})
	}
	return out
}
