package scenarios

import (
	"fmt"
	"strings"

	. "github.com/chaoslab/chaoslab/assertions"
	"github.com/chaoslab/chaoslab/fakes/dns"
	"github.com/chaoslab/chaoslab/fakes/upstream"
	"github.com/chaoslab/chaoslab/lab"
	"github.com/chaoslab/chaoslab/load"
)

func init() {
	Register(Scenario{
		ID:      "gateway/503-name-resolution-failed",
		Title:   "The service host does not resolve: 503",
		Symptom: "503 'name resolution failed' >= 95% while the service host has no DNS record; 200 once it points at a name that resolves",
		Story: `The orders service moves to a new namespace. The kong.yml change lands before the DNS record for the new ` +
			`name exists (or with a typo in it): Kong cannot resolve the host and answers 503 to everything on that route.`,
		Lesson: `"name resolution failed" is Kong's own 503 from its DNS client: the service host (or an upstream target) ` +
			`got a name error or an empty answer. Resolve the name from the gateway host (dig NAME, using Kong's resolver) ` +
			`and check the service's host field. Kong caches DNS answers (and errors) for their TTL: after fixing the record, ` +
			`the error can persist until the negative cache expires.`,
		New: func() Play { return &gwNoDNS{} },
	})
}

type gwNoDNS struct{ gwSetup }

const goodHost, badHost = "orders.shop.svc.lab", "orders.payments.svc.lab"

func (x *gwNoDNS) config(host string) string {
	_, port := hostPort(x.up.Addr())
	return kongYAML(services(service("orders", fmt.Sprintf("http://%s:%d", host, port), "retries: 0")))
}

func (x *gwNoDNS) Setup(s *S) {
	x.up = s.startUpstream("orders", upstream.Config{})
	ip, _ := hostPort(x.up.Addr())
	// An authoritative fake DNS on 127.0.0.1 that knows goodHost and answers
	// NXDOMAIN for the rest (no query leaves the machine). Real Kong answers
	// 503 "name resolution failed" only for a name error or an empty answer;
	// a resolver it cannot reach gives a 500 "An unexpected error occurred"
	// (balancer.execute), so a static hosts table alone does not reproduce
	// this incident.
	d, err := s.Lab.Fake(s.Ctx, dns.Config{Records: map[string][]string{goodHost: {ip}}})
	s.Must(err, "starting the fake DNS")
	addr := strings.TrimPrefix(d.URL(), "dns://")
	x.gw = s.startGateway(x.config(goodHost), lab.WithDNS(addr))
	h, p, _ := strings.Cut(addr, ":")
	s.Command("Ask Kong's resolver for the new name", "dig @"+h+" -p "+p+" "+badHost)
	s.Command("What the service points at", "curl -s "+x.gw.AdminURL()+"/services")
}

func (x *gwNoDNS) Run(s *S) {
	orders := target("GET", x.gw.ProxyURL()+"/orders")
	s.Phase("baseline", "the service host resolves", func() {
		s.Expect(s.gwAttack("baseline", orders), "requests succeed").To(HaveSuccessShare(">=", 0.99))
	})
	s.Phase("fault", "the service now points at "+badHost+", which has no record", func() {
		s.reload(x.gw, x.config(badHost))
		s.waitLive(orders, "Kong answers 503", func(r load.Result) bool { return r.Code == 503 })
		rs := s.gwAttack("unresolvable host", orders)
		s.Expect(rs, "Kong answers 503").To(HaveStatusShare(503, ">=", 0.95))
		s.Expect(rs, "from its DNS client").To(HaveBodyShare("name resolution failed", ">=", 0.95))
	})
	s.Phase("fix", "point the service at the name that resolves", func() {
		s.reload(x.gw, x.config(goodHost))
		s.waitLive(orders, "requests succeed", func(r load.Result) bool { return r.Code == 200 })
	})
	s.Phase("recovery", "requests succeed", func() {
		s.Expect(s.gwAttack("recovery", orders), "requests succeed").To(HaveSuccessShare(">=", 0.99))
	})
}
