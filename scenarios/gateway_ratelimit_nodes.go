package scenarios

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	. "github.com/chaoslab/chaoslab/assertions"
	"github.com/chaoslab/chaoslab/fakes/lb"
	"github.com/chaoslab/chaoslab/fakes/upstream"
	"github.com/chaoslab/chaoslab/lab"
	"github.com/chaoslab/chaoslab/load"
)

func init() {
	Register(Scenario{
		ID:    "gateway/rate-limit-across-nodes",
		Title: "A per-second limit with policy local on two Kong nodes behind a load balancer: twice the limit gets through",
		Symptom: fmt.Sprintf("limit %d/s, policy local, %d Kong nodes behind a round-robin LB, %g/s offered: accepted %d/s ± 10%% "+
			"(N x limit) although every response says X-RateLimit-Limit-Second: %d; policy redis on a real Redis: accepted %d/s ± 10%%",
			rlnLimit, rlnNodes, rlnLoad, rlnNodes*rlnLimit, rlnLimit, rlnLimit),
		Story: `A partner is contractually limited to 20 requests per second, and the gateway's rate-limiting plugin was ` +
			`configured with second: 20 when the API ran on one Kong node. Traffic grew, Kong was scaled out to two nodes ` +
			`behind the load balancer, and the partner's dashboards now show 40 accepted requests per second while every ` +
			`response still announces a limit of 20. The backend, sized for 20/s from that partner, starts to struggle.`,
		Lesson: `With policy local (the default, and the only one besides redis in DB-less mode) every Kong node counts in ` +
			`its own memory: each node lets the limit through, so N nodes behind a load balancer accept N x limit. Nothing ` +
			`in a response shows it — X-RateLimit-Limit-Second and RateLimit-Remaining are each node's own view — but the ` +
			`accepted rate, flat at a multiple of the limit, and the remaining counts alternating between two sequences do. ` +
			`Scaling Kong out or in silently changes the effective limit.

Fix: policy redis with every node on the same Redis (config.redis.host/port). With sync_rate -1 (the default) ` +
			`each request runs one EVAL on Redis that increments the shared counter ratelimit:<route>:<service>:<client>:` +
			`<window start ms>:second (with a 1 s expiry), and refused requests are counted too. Look at the counters with ` +
			`redis-cli --scan --pattern 'ratelimit:*' and watch the traffic with redis-cli monitor. Redis is now on the ` +
			`request path: with fault_tolerant: true (default) Kong lets traffic through unlimited and logs "failed to get ` +
			`usage" when Redis is down. (Dividing the limit by the node count only holds while the LB spreads evenly and ` +
			`the node count stays the same.)`,
		New: func() Play { return &gwRateLimitNodes{} },
	})
}

const (
	rlnNodes = 2
	rlnLimit = 20
	rlnLoad  = 60.0
)

type gwRateLimitNodes struct {
	up    *lab.Upstream
	nodes []*lab.Gateway
	hop   *lab.LB
	redis *lab.Redis
}

func (x *gwRateLimitNodes) config(policy string) string {
	cfg := fmt.Sprintf("  config: {second: %d, policy: local}", rlnLimit)
	if policy == "redis" {
		cfg = fmt.Sprintf("  config: {second: %d, policy: redis, redis: {host: %s, port: %d}}", rlnLimit, x.redis.Host(), x.redis.Port())
	}
	return kongYAML(services(service("orders", httpURL("http", x.up), "plugins:", "- name: rate-limiting", cfg)))
}

func (x *gwRateLimitNodes) Setup(s *S) {
	var err error
	x.redis, err = s.Lab.Redis(s.Ctx)
	if lab.IsRedisNotInstalled(err) || errors.Is(err, lab.ErrRedisUnreachable) {
		s.Skip(err.Error())
	}
	s.Must(err, "starting Redis")
	x.up = s.startUpstream("orders", upstream.Config{})
	x.nodes = append(x.nodes, s.startGateway(x.config("local")))
	for len(x.nodes) < rlnNodes {
		g, err := s.Lab.Gateway(s.Ctx, x.config("local"))
		s.Must(err, fmt.Sprintf("starting Kong node %d", len(x.nodes)+1))
		x.nodes = append(x.nodes, g)
	}
	var more []string
	for _, g := range x.nodes[1:] {
		more = append(more, g.ProxyURL())
	}
	x.hop, err = s.Lab.LB(s.Ctx, lb.Config{Backend: x.nodes[0].ProxyURL(), Backends: strings.Join(more, ",")})
	s.Must(err, "starting the load balancer")
	s.Note(fmt.Sprintf("%d Kong nodes (%s) behind a round-robin LB %s; Redis %s on %s",
		rlnNodes, x.nodes[0].Kind(), x.hop.URL(), x.redis.Version(), x.redis.Addr()))
	s.Command("The limit each response announces", "curl -si "+x.hop.URL()+"/orders | grep -iE '^(x-)?ratelimit'")
	s.Command(fmt.Sprintf("%g requests per second for 5 s through the LB", rlnLoad),
		fmt.Sprintf("echo 'GET %s/orders' | vegeta attack -rate=%g -duration=5s | vegeta report", x.hop.URL(), rlnLoad))
	for i, g := range x.nodes {
		s.Command(fmt.Sprintf("Node %d's plugin policy", i+1), "curl -s "+g.AdminURL()+"/plugins | grep -o '\"policy\":\"[a-z]*\"'")
	}
	s.Command("The shared counters (policy redis)", fmt.Sprintf("redis-cli -h %s -p %d --scan --pattern 'ratelimit:*'", x.redis.Host(), x.redis.Port()))
	s.Command("What the nodes ask Redis", fmt.Sprintf("redis-cli -h %s -p %d monitor", x.redis.Host(), x.redis.Port()))
}

// overLimit drives rlnLoad/s through the LB for 4 s and returns the mean
// accepted per whole second, after asserting each second and the share each
// node served.
func (x *gwRateLimitNodes) overLimit(s *S, name string, want float64) load.Results {
	before := make([]int, len(x.nodes))
	for i, g := range x.nodes {
		before[i] = len(g.AccessLog())
	}
	orders := target("GET", x.hop.URL()+"/orders")
	rs := s.Attack(name, []load.Target{orders}, load.Constant(rlnLoad), 4*time.Second)
	// Realisation: the LB spread the load over every node.
	for i, g := range x.nodes {
		served := len(settled(func() []string { return g.AccessLog() })) - before[i]
		s.Expect(float64(served)/float64(len(rs)), fmt.Sprintf("share of the requests node %d served", i+1)).
			To(BeAround(1.0/rlnNodes, 0.1, ""))
	}
	per := acceptedPerSecond(rs)
	if len(per) < 2 {
		s.Failf("too few whole seconds in the attack to judge a per-second limit: %v", per)
	}
	var sum float64
	for i, n := range per {
		sum += n
		// A client second straddles the nodes' windows: within 25% each.
		s.Expect(n, fmt.Sprintf("accepted in whole second %d", i+1)).To(BeAround(want, want/4, "req/s"))
	}
	mean := sum / float64(len(per))
	s.Measure("accepted per second ("+name+")", mean, "req/s", fmt.Sprintf("limit %d/s, %d nodes, %g/s offered", rlnLimit, rlnNodes, rlnLoad))
	s.Expect(mean, "accepted per whole second, mean").To(BeAround(want, want/10, "req/s"))
	limited := rs.Filter(func(r load.Result) bool { return r.Code == 429 })
	s.Expect(limited, "the rest: Kong's 429").To(HaveBodyShare("API rate limit exceeded", ">=", 0.99))
	s.Expect(rs, "every response announces the per-node limit").To(HaveHeaderShare("X-RateLimit-Limit-Second", fmt.Sprint(rlnLimit), ">=", 0.99))
	return rs
}

func (x *gwRateLimitNodes) Run(s *S) {
	orders := target("GET", x.hop.URL()+"/orders")
	s.Phase("baseline", "10/s through the LB, under the limit", func() {
		rs := s.Attack("under the limit", []load.Target{orders}, load.Constant(10), gwLoad)
		s.Expect(rs, "every request accepted").To(HaveSuccessShare(">=", 0.99))
	})
	s.Phase("fault", fmt.Sprintf("%g/s through the LB, policy local on %d nodes", rlnLoad, rlnNodes), func() {
		s.Lab.Record("fault-applied", "gateway", fmt.Sprintf("rate-limiting policy local on %d nodes", rlnNodes))
		rs := x.overLimit(s, "policy local", rlnNodes*rlnLimit)
		s.Expect(rs, "429s while more than the limit gets through").To(HaveStatusShare(429, ">=", 0.2))
		keys, err := x.redis.Counters(s.Ctx, "ratelimit:*")
		s.Must(err, "reading Redis")
		s.Expect(float64(len(keys)), "counters in Redis (policy local uses none)").To(BeNumber("==", 0, "keys"))
	})
	s.Phase("fix", "policy redis on every node, one shared Redis (POST /config)", func() {
		for _, g := range x.nodes {
			s.reload(g, x.config("redis"))
		}
		s.Lab.Record("fault-removed", "gateway", "rate-limiting policy redis on "+x.redis.Addr())
		// Real Kong applies a new file through an event: wait until every
		// node counts in Redis before judging.
		s.Eventually("every node counts in Redis", 5*time.Second, 100*time.Millisecond, func() error {
			for i, g := range x.nodes {
				rs, err := load.Run(s.Ctx, []load.Target{target("GET", g.ProxyURL()+"/orders")}, load.Constant(5), 400*time.Millisecond)
				if err != nil {
					return err
				}
				keys, err := x.redis.Counters(s.Ctx, "ratelimit:*")
				if err != nil {
					return err
				}
				if len(rs) == 0 || len(keys) == 0 {
					return fmt.Errorf("node %d: no counter in Redis yet", i+1)
				}
			}
			return nil
		})
		// Let this second's test requests' window pass.
		s.Sleep(1100 * time.Millisecond)
	})
	s.Phase("recovery", fmt.Sprintf("%g/s through the LB, policy redis", rlnLoad), func() {
		monitorLines, stopMonitor, err := x.redis.Monitor(s.Ctx)
		s.Must(err, "watching Redis (MONITOR)")
		rs := x.overLimit(s, "policy redis", rlnLimit)
		stopMonitor()
		s.Expect(rs, "the rest is refused").To(HaveStatusShare(429, ">=", 0.5))
		// Realisation: every request of the attack ran one eval on Redis,
		// against per-second keys in Kong's format.
		evals := 0
		var sample string
		for _, l := range monitorLines() {
			if strings.Contains(l, `"eval"`) || strings.Contains(l, `"EVAL"`) {
				evals++
				if sample == "" {
					sample = l
				}
			}
		}
		s.Measure("evals Redis ran during the attack", float64(evals), "commands", fmt.Sprintf("%d requests", len(rs)))
		s.Expect(float64(evals)/float64(len(rs)), "one eval per request on the shared Redis").To(BeAround(1, 0.05, ""))
		if i := strings.Index(sample, `"ratelimit:`); i >= 0 {
			s.Note("a counter key: " + strings.SplitN(sample[i+1:], `"`, 2)[0])
		}
		ctx, cancel := context.WithTimeout(s.Ctx, 5*time.Second)
		defer cancel()
		keys, err := x.redis.Counters(ctx, "ratelimit:*:second")
		s.Must(err, "reading Redis")
		s.Log("Redis counters after the attack", counterLines(keys))
	})
}

func counterLines(m map[string]int64) []string {
	var out []string
	for k, v := range m {
		out = append(out, fmt.Sprintf("%s = %d", k, v))
	}
	return out
}
