package scenarios

import (
	. "github.com/chaoslab/chaoslab/assertions"
	"github.com/chaoslab/chaoslab/fakes/lb"
	"github.com/chaoslab/chaoslab/fakes/upstream"
	"github.com/chaoslab/chaoslab/lab"
	"github.com/chaoslab/chaoslab/load"
)

func init() {
	Register(Scenario{
		ID:      "lb/x-forwarded-proto-dropped",
		Title:   "TLS offload at the LB without X-Forwarded-Proto: an https-only route answers 426",
		Symptom: "through the LB: 426 'Please use HTTPS protocol' >= 95%; LB setting X-Forwarded-Proto: https (a peer in trusted_ips): 200",
		Story: `Clients reach the API over HTTPS; the load balancer terminates TLS and talks plain HTTP to Kong. Kong's ` +
			`route is protocols: [https], and kong.conf trusts the LB (trusted_ips) so that it believes the LB's ` +
			`X-Forwarded-Proto: https. A new LB profile is rolled out without the "insert X-Forwarded-Proto" option: every ` +
			`call fails with 426 Upgrade Required although the clients do use HTTPS.`,
		Lesson: `426 {"message":"Please use HTTPS protocol"} with Upgrade: TLS/1.2, HTTP/1.1 is Kong's answer when a ` +
			`route accepts only https and Kong thinks the client spoke http (the Upgrade header is hop-by-hop: the LB ` +
			`usually drops it on the way back; with https_redirect_status_code 301/302/307/308 ` +
			`it is a redirect to https://... instead: a browser then loops between the LB and Kong). Kong decides from ` +
			`the connection's scheme, or from X-Forwarded-Proto only when the peer is in trusted_ips (kong.conf; Kong ` +
			`ignores the header from anyone else, which also stops clients from forging it). Check what Kong believes: ` +
			`an echo upstream shows the X-Forwarded-Proto Kong sends on.

Fix: the LB sets X-Forwarded-Proto: https (F5: an HTTP profile or iRule inserting it; nginx: proxy_set_header ` +
			`X-Forwarded-Proto $scheme) and kong.conf lists the LB's addresses in trusted_ips (with real_ip_header ` +
			`X-Forwarded-For to log the real client address). Do not open the route to http to make the 426 go away.`,
		New: func() Play { return &lbXFPDropped{} },
	})
}

// lbTrustedIPs is the LB's address as kong.conf trusted_ips: the lab's hop
// connects from loopback.
const lbTrustedIPs = "127.0.0.1,::1"

type lbXFPDropped struct{ lbSetup }

func (x *lbXFPDropped) Setup(s *S) {
	x.up = s.startUpstream("orders", upstream.Config{})
	x.gw = s.startGateway(kongYAML(`services:
- name: orders
  url: `+httpURL("http", x.up)+`
  routes:
  - name: orders
    protocols: [https]
    paths: [/orders]
`), lab.WithTrustedIPs(lbTrustedIPs))
	x.hop = s.startLB(x.gw, lb.Config{XFP: lb.XFPHTTPS}, "/orders", "")
	s.Command("What Kong believes (kong.conf trusted_ips, real_ip_header)", "curl -s "+x.gw.AdminURL()+"/ | jq '.configuration | {trusted_ips, real_ip_header}'")
	s.Command("Kong with the LB's header", "curl -si -H 'X-Forwarded-Proto: https' "+x.gw.ProxyURL()+"/orders")
}

func (x *lbXFPDropped) Run(s *S) {
	viaLB := load.Target{Method: "GET", URL: x.hop.URL() + "/orders"}
	s.Phase("baseline", "the LB says X-Forwarded-Proto: https", func() {
		s.Expect(s.gwAttack("via LB", viaLB), "calls through the LB succeed").To(HaveSuccessShare(">=", 0.99))
	})
	s.Phase("fault", "a new LB profile drops X-Forwarded-Proto", func() {
		st := s.lbApply(x.hop, "fault-applied", "no X-Forwarded-Proto", lb.Settings{XFP: lbSet(lb.XFPNone)})
		if st.Policy.XFP != lb.XFPNone {
			s.Failf("the LB still sets X-Forwarded-Proto: %+v", st.Policy)
		}
		rs := s.gwAttack("via LB", viaLB)
		s.Expect(rs, "Kong: 426 Upgrade Required").To(HaveStatusShare(426, ">=", 0.95))
		s.Expect(rs, "Kong's own body").To(HaveBodyShare("Please use HTTPS protocol", ">=", 0.95))
	})
	s.Phase("fix", "the LB sets X-Forwarded-Proto: https again (Kong trusts it)", func() {
		st := s.lbApply(x.hop, "fault-removed", "no X-Forwarded-Proto", lb.Settings{XFP: lbSet(lb.XFPHTTPS)})
		if st.Policy.XFP != lb.XFPHTTPS {
			s.Failf("the LB does not set X-Forwarded-Proto: %+v", st.Policy)
		}
	})
	s.Phase("recovery", "calls through the LB succeed", func() {
		s.Expect(s.gwAttack("via LB", viaLB), "calls through the LB succeed").To(HaveSuccessShare(">=", 0.99))
	})
}
