package scenarios

import (
	"net/http"

	. "github.com/chaoslab/chaoslab/assertions"
	"github.com/chaoslab/chaoslab/fakes/lb"
	"github.com/chaoslab/chaoslab/fakes/upstream"
	"github.com/chaoslab/chaoslab/load"
)

func init() {
	Register(Scenario{
		ID:      "lb/host-rewritten",
		Title:   "A load balancer rewrites Host: Kong's host-based route misses (404)",
		Symptom: "through the LB: 404 'no Route matched with those values' >= 95%; bypassing the LB: 200; LB preserving Host: 200",
		Story: `The API is published as api.example.com; in Kong its route matches on hosts: [api.example.com]. A ` +
			`change on the F5 sets the pool's "rewrite Host to the pool member" option, so every request reaches Kong with ` +
			`Host: kong-pool.internal. Every call now fails with 404 although Kong, its routes and the upstream are ` +
			`unchanged and healthy.`,
		Lesson: `404 {"message":"no Route matched with those values"} comes from Kong's router, before any plugin or ` +
			`upstream: no route's methods, hosts, headers and paths all matched. Its X-Kong-Response-Latency (and no ` +
			`X-Kong-Upstream-Latency) says Kong answered itself. When the route matches on hosts, look at the Host the ` +
			`request arrived with: Kong's access log, or an echo upstream behind a catch-all route, shows it; the same curl ` +
			`with -H 'Host: api.example.com' straight to Kong works.

Fix: make the LB preserve the client's Host (F5: no Host rewrite in the HTTP profile; nginx: proxy_set_header ` +
			`Host $host), or add the rewritten name to the route's hosts. preserve_host on the route does not help: ` +
			`it is about the Host Kong sends upstream, not the one it routes on.`,
		New: func() Play { return &lbHostRewritten{} },
	})
}

const (
	publicHost = "api.example.com"
	poolHost   = "kong-pool.internal"
)

type lbHostRewritten struct{ lbSetup }

func (x *lbHostRewritten) Setup(s *S) {
	x.up = s.startUpstream("orders", upstream.Config{})
	x.gw = s.startGateway(kongYAML(`services:
- name: orders
  url: ` + httpURL("http", x.up) + `
  routes:
  - name: orders
    hosts: [` + publicHost + `]
    paths: [/orders]
`))
	x.hop = s.startLB(x.gw, lb.Config{}, "/orders", "-H 'Host: "+publicHost+"'")
	s.Command("The hosts Kong's routes match on", "curl -s "+x.gw.AdminURL()+"/routes | jq '.data[] | {name, hosts, paths}'")
}

func (x *lbHostRewritten) target(base string) load.Target {
	return load.Target{Method: "GET", URL: base + "/orders", Header: http.Header{"Host": {publicHost}}}
}

func (x *lbHostRewritten) Run(s *S) {
	viaLB := x.target(x.hop.URL())
	s.Phase("baseline", "the LB passes the client's Host", func() {
		s.Expect(s.gwAttack("via LB", viaLB), "calls through the LB succeed").To(HaveSuccessShare(">=", 0.99))
	})
	s.Phase("fault", "the LB rewrites Host to the pool member's name", func() {
		st := s.lbApply(x.hop, "fault-applied", "rewrite Host to "+poolHost, lb.Settings{Host: lbSet(poolHost)})
		if st.Policy.Host != poolHost {
			s.Failf("the LB did not take the Host rewrite: %+v", st.Policy)
		}
		rs := s.gwAttack("via LB", viaLB)
		s.Expect(rs, "Kong's router finds no route: 404").To(HaveStatusShare(404, ">=", 0.95))
		s.Expect(rs, "Kong's own 404 body").To(HaveBodyShare("no Route matched with those values", ">=", 0.95))
		s.Expect(s.gwAttack("bypassing the LB", x.target(x.gw.ProxyURL())), "the same request straight to Kong works").
			To(HaveSuccessShare(">=", 0.99))
	})
	s.Phase("fix", "the LB preserves Host", func() {
		st := s.lbApply(x.hop, "fault-removed", "rewrite Host", lb.Settings{Host: lbSet("")})
		if st.Policy.Host != "" {
			s.Failf("the LB still rewrites Host: %+v", st.Policy)
		}
	})
	s.Phase("recovery", "calls through the LB succeed", func() {
		s.Expect(s.gwAttack("via LB", viaLB), "calls through the LB succeed").To(HaveSuccessShare(">=", 0.99))
	})
}
