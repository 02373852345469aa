package scenarios

import (
	"net/http"
	"strings"

	. "github.com/chaoslab/chaoslab/assertions"
	"github.com/chaoslab/chaoslab/fakes/lb"
	"github.com/chaoslab/chaoslab/fakes/upstream"
	"github.com/chaoslab/chaoslab/load"
)

func init() {
	Register(Scenario{
		ID:    "lb/pre-function-nil-header",
		Title: "A pre-function plugin indexes a header the LB stripped: 500 and 'attempt to index a nil value'",
		Symptom: "LB stripping X-Tenant: 500 'An unexpected error occurred' >= 95% and an 'attempt to index a nil value' " +
			"error.log line for >= 90% of them; LB passing X-Tenant: 200. Real Kong only: the emulation runs no Lua",
		Story: `A pre-function plugin on the orders route lowercases the caller's X-Tenant header and passes it on. After ` +
			`the LB team tightens the header allow-list, every call to the route fails with 500 "An unexpected error ` +
			`occurred"; other routes are fine and the upstream never sees the failing requests.`,
		Lesson: `Kong answers 500 {"message":"An unexpected error occurred"} when Lua code in a plugin raises an error; ` +
			`error.log says which plugin and where: "[kong] init.lua:... [pre-function] ... attempt to index a nil value". ` +
			`kong.request.get_header returns nil for an absent header, and indexing nil (nil:lower()) is the error. No ` +
			`X-Kong-Upstream-Latency on the 500: the request never left Kong. Send the request with and without the ` +
			`header straight to Kong to confirm, then find what removed it.

Fix: make the LB pass the header, and make the Lua code survive its absence (local t = ` +
			`kong.request.get_header("x-tenant"); if not t then return kong.response.exit(400, {message = "X-Tenant ` +
			`required"}) end): a missing header is the client's error, not a 500.`,
		New: func() Play { return &lbPreFunctionNil{} },
	})
}

const tenantLua = `local tenant = kong.request.get_header("x-tenant"):lower()
kong.service.request.set_header("x-tenant-id", tenant)`

type lbPreFunctionNil struct{ lbSetup }

func (x *lbPreFunctionNil) Setup(s *S) {
	x.up = s.startUpstream("orders", upstream.Config{})
	y := kongYAML(services(service("orders", httpURL("http", x.up),
		"plugins:", "- name: pre-function", "  config:", "    access:", "    - |",
		"      "+strings.ReplaceAll(tenantLua, "\n", "\n        "))))
	g, err := s.Lab.Gateway(s.Ctx, y)
	if err != nil && strings.Contains(err.Error(), "the emulation only supports ngx.sleep") {
		s.Skip("the Kong emulation runs no Lua (pre-function: ngx.sleep only): run with GATEWAY=kong (make kong)")
	}
	if err != nil {
		x.gw = s.startGateway(y) // the usual errors and skips (real Kong not built)
	} else {
		x.gw = g
		s.rec.Gateway = g.Kind()
		s.Command("Kong's latency attribution for one request", "curl -si -H 'X-Tenant: ACME' "+g.ProxyURL()+"/orders | grep -i '^x-kong-.*latency'")
	}
	x.hop = s.startLB(x.gw, lb.Config{}, "/orders", "-H 'X-Tenant: ACME'")
	s.Command("Kong's error log: the Lua error and which plugin raised it", "grep 'pre-function' <kong prefix>/logs/error.log | tail -3")
}

func (x *lbPreFunctionNil) Run(s *S) {
	orders := load.Target{Method: "GET", URL: x.hop.URL() + "/orders", Header: http.Header{"X-Tenant": {"ACME"}}}
	s.Phase("baseline", "the LB passes X-Tenant", func() {
		s.Expect(s.gwAttack("orders via LB", orders), "calls succeed").To(HaveSuccessShare(">=", 0.99))
	})
	s.Phase("fault", "the LB's allow-list drops X-Tenant", func() {
		st := s.lbApply(x.hop, "fault-applied", "strip X-Tenant", lb.Settings{StripHeaders: lbSet("X-Tenant")})
		if st.Policy.StripHeaders != "X-Tenant" {
			s.Failf("the LB did not take the strip policy: %+v", st.Policy)
		}
		logStart := len(x.gw.ErrorLog())
		rs := s.gwAttack("orders via LB", orders)
		s.Expect(rs, "Kong: 500").To(HaveStatusShare(500, ">=", 0.95))
		s.Expect(rs, "Kong's own 500 body").To(HaveBodyShare("An unexpected error occurred", ">=", 0.95))
		s.Expect(s.gatewayErrors(x.gw, logStart), "the Lua error is logged").
			To(HaveLogLines("attempt to index a nil value", ">=", len(rs)*9/10))
	})
	s.Phase("fix", "the LB passes X-Tenant", func() {
		st := s.lbApply(x.hop, "fault-removed", "strip X-Tenant", lb.Settings{StripHeaders: lbSet("")})
		if st.Policy.StripHeaders != "" {
			s.Failf("the LB still strips headers: %+v", st.Policy)
		}
	})
	s.Phase("recovery", "calls succeed", func() {
		s.Expect(s.gwAttack("orders via LB", orders), "calls succeed").To(HaveSuccessShare(">=", 0.99))
	})
}
