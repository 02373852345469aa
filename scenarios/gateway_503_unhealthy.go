package scenarios

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	. "github.com/chaoslab/chaoslab/assertions"
	"github.com/chaoslab/chaoslab/fakes/upstream"
	"github.com/chaoslab/chaoslab/lab"
)

func init() {
	Register(Scenario{
		ID:      "gateway/503-no-healthy-targets",
		Title:   "Active health checks mark every target unhealthy: 503",
		Symptom: "503 'failure to get a peer from the ring-balancer' >= 95% once every target is UNHEALTHY; 200 after adding a healthy target",
		Story: `The orders upstream has one instance left after a scale-in. Its /health endpoint starts failing because a ` +
			`downstream cache is unreachable, although the API itself could still serve reads. Kong's active health checks ` +
			`mark the only target unhealthy and stop sending it traffic: every request is a 503 from Kong itself.`,
		Lesson: `"failure to get a peer from the ring-balancer" is Kong's own 503: the balancer has no healthy target. Look at ` +
			`GET /upstreams/NAME/health: every target UNHEALTHY. Active checks re-enable a target only after it passes ` +
			`healthy.successes probes; passive checks never re-enable by themselves.

Fix: bring a healthy target in (or fix the health endpoint). And make /health check only what the service needs to serve.`,
		New: func() Play { return &gwUnhealthy{} },
	})
}

type gwUnhealthy struct {
	gw   *lab.Gateway
	a, b *lab.Upstream
}

func (x *gwUnhealthy) config(targets ...*lab.Upstream) string {
	var t strings.Builder
	for _, up := range targets {
		fmt.Fprintf(&t, "  - target: %s\n", up.Addr())
	}
	return kongYAML(`upstreams:
- name: orders-upstream
  healthchecks:
    active:
      type: http
      http_path: /health
      timeout: 0.5
      healthy: {interval: 0.1, successes: 1, http_statuses: [200]}
      unhealthy: {interval: 0.1, http_failures: 1, tcp_failures: 1, timeouts: 1, http_statuses: [500, 503]}
  targets:
`+t.String(), services(service("orders", "http://orders-upstream:80", "retries: 0")))
}

func (x *gwUnhealthy) Setup(s *S) {
	x.a = s.startUpstream("orders-a", upstream.Config{})
	x.b = s.startUpstream("orders-b", upstream.Config{})
	x.gw = s.startGateway(x.config(x.a))
	s.Command("Target health as Kong sees it", "curl -s "+x.gw.AdminURL()+"/upstreams/orders-upstream/health")
	s.Command("The health endpoint directly", "curl -si "+x.a.DirectURL()+"/health")
}

// targetHealth reads GET /upstreams/orders-upstream/health.
func (x *gwUnhealthy) targetHealth(s *S) map[string]string {
	code, body, err := x.gw.Admin(s.Ctx, "/upstreams/orders-upstream/health")
	s.Must(err, "reading target health")
	var doc struct {
		Data []struct {
			Target string `json:"target"`
			Health string `json:"health"`
		} `json:"data"`
	}
	if code != 200 || json.Unmarshal(body, &doc) != nil {
		s.Failf("GET /upstreams/orders-upstream/health: %d %s", code, body)
	}
	out := map[string]string{}
	for _, d := range doc.Data {
		out[d.Target] = d.Health
	}
	return out
}

func (x *gwUnhealthy) waitHealth(s *S, up *lab.Upstream, want string) {
	s.Eventually(fmt.Sprintf("target %s %s", up.Name, want), 5*time.Second, 50*time.Millisecond, func() error {
		if h := x.targetHealth(s)[up.Addr()]; h != want {
			return fmt.Errorf("health %q", h)
		}
		return nil
	})
	s.Lab.Record("note", "gateway", fmt.Sprintf("target %s is %s", up.Addr(), want))
}

func (x *gwUnhealthy) Run(s *S) {
	orders := target("GET", x.gw.ProxyURL()+"/orders")
	s.Phase("baseline", "one target, healthy", func() {
		x.waitHealth(s, x.a, "HEALTHY")
		s.Expect(s.gwAttack("baseline", orders), "requests succeed").To(HaveSuccessShare(">=", 0.99))
	})
	s.Phase("fault", "the only target's /health answers 500", func() {
		s.Must(x.a.Control.SetBehaviour(s.Ctx, upstream.ControlState{Rules: map[string]upstream.Behaviour{"/health": {Status: 500}}}), "failing /health")
		s.Lab.Record("fault-applied", "orders-a", "/health answers 500")
		x.waitHealth(s, x.a, "UNHEALTHY")
		rs := s.gwAttack("no healthy target", orders)
		s.Expect(rs, "Kong answers 503").To(HaveStatusShare(503, ">=", 0.95))
		s.Expect(rs, "from its balancer").To(HaveBodyShare("failure to get a peer from the ring-balancer", ">=", 0.95))
		st, err := x.a.Control.Stats(s.Ctx)
		s.Must(err, "upstream stats")
		s.Measure("requests that reached the unhealthy target (health probes aside)", float64(st.ByPath["/orders"]), "requests", "")
	})
	s.Phase("fix", "add a healthy target (POST /config)", func() {
		s.reload(x.gw, x.config(x.a, x.b))
		// A reload rebuilds the balancer: targets start healthy until the
		// checker probes them again, as on Kong.
		x.waitHealth(s, x.b, "HEALTHY")
		x.waitHealth(s, x.a, "UNHEALTHY")
	})
	s.Phase("recovery", "traffic flows to the healthy target", func() {
		rs := s.gwAttack("recovery", orders)
		s.Expect(rs, "requests succeed").To(HaveSuccessShare(">=", 0.99))
		s.Expect(rs, "served by the healthy target").To(HaveHeaderShare("X-Upstream-Name", "orders-b", ">=", 0.99))
	})
}
