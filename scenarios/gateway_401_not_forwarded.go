package scenarios

import (
	"net/http"
	"strings"

	. "github.com/chaoslab/chaoslab/assertions"
	"github.com/chaoslab/chaoslab/fakes/upstream"
	"github.com/chaoslab/chaoslab/load"
)

func init() {
	Register(Scenario{
		ID:    "gateway/401-token-not-forwarded",
		Title: "Kong accepts the key but hides it from an upstream that checks it too: 401 from the upstream",
		Symptom: "key-auth with hide_credentials: true in front of an upstream that requires the key: >= 95% 401 with the upstream's body " +
			"and X-Kong-Upstream-Latency (proxied), not Kong's; a wrong key still gets Kong's own 401 (X-Kong-Response-Latency); " +
			"hide_credentials: false: 200 >= 99%",
		Story: `A security review asks that API keys stop "leaking" to the services behind the gateway, and someone sets ` +
			`hide_credentials: true on the key-auth plugin. The orders service, though, checks the partner's key again ` +
			`itself (defence in depth, or a legacy check nobody remembered). Right after the change every partner call ` +
			`fails with 401. The gateway team sees valid keys and consumers being found; the service team sees requests ` +
			`without a key.`,
		Lesson: `Two different 401s travel through Kong and look alike on a dashboard. Kong's own comes from the auth ` +
			`plugin before any upstream is contacted: body "No API key found in request" or "Unauthorized" (key-auth) or ` +
			`{"message":"Unauthorized"} (jwt), WWW-Authenticate: Key or Bearer, and X-Kong-Response-Latency — no ` +
			`X-Kong-Upstream-Latency, and the access log shows no upstream_status. An upstream's 401 was proxied: it carries ` +
			`X-Kong-Upstream-Latency and X-Kong-Proxy-Latency, the upstream's own body and headers, and upstream_status 401 ` +
			`in the access log. With key-auth's (or basic-auth's, oauth2's...) hide_credentials: true, Kong removes the ` +
			`credential after checking it, so an upstream that wants it never sees it.

Fix: forward the credential (hide_credentials: false), or pass what the service really needs instead (Kong's ` +
			`X-Consumer-Username / X-Credential-Identifier headers, or a request-transformer header on real Kong), and ` +
			`have the service trust the gateway for authentication.`,
		New: func() Play { return &gw401NotForwarded{} },
	})
}

type gw401NotForwarded struct{ gwSetup }

const forwardedKey = "partner-key-9c21"

func (x *gw401NotForwarded) config(hide bool) string {
	h := "false"
	if hide {
		h = "true"
	}
	return kongYAML(`consumers:
- username: partner
  keyauth_credentials: [{key: `+forwardedKey+`}]
`, services(service("orders", httpURL("http", x.up),
		"plugins:", "- name: key-auth", "  config: {key_names: [apikey], hide_credentials: "+h+"}")))
}

func (x *gw401NotForwarded) Setup(s *S) {
	x.up = s.startUpstream("orders", upstream.Config{Require: &upstream.Credential{Header: "apikey", Value: forwardedKey}})
	x.gw = s.startGateway(x.config(false))
	s.Command("Who answered the 401? (upstream: X-Kong-Upstream-Latency; Kong: X-Kong-Response-Latency)",
		"curl -si -H 'apikey: "+forwardedKey+"' "+x.gw.ProxyURL()+"/orders | grep -iE '^HTTP|^x-kong-.*latency|^www-authenticate|^x-upstream|message|error'")
	s.Command("Kong's own 401 for comparison (a wrong key)", "curl -si -H 'apikey: wrong' "+x.gw.ProxyURL()+"/orders")
	s.Command("What the upstream receives with the key, bypassing Kong", "curl -si -H 'apikey: "+forwardedKey+"' "+x.up.DirectURL()+"/orders")
	s.Command("The key-auth plugin's settings", "curl -s "+x.gw.AdminURL()+"/plugins | grep -o '\"hide_credentials\":[a-z]*'")
}

func (x *gw401NotForwarded) targets() (good, wrong load.Target) {
	u := x.gw.ProxyURL() + "/orders"
	good = load.Target{Method: "GET", URL: u, Header: http.Header{"apikey": {forwardedKey}}}
	wrong = load.Target{Method: "GET", URL: u, Header: http.Header{"apikey": {"not-a-partner-key"}}}
	return good, wrong
}

func (x *gw401NotForwarded) Run(s *S) {
	good, wrong := x.targets()
	s.Phase("baseline", "Kong checks the key and forwards it", func() {
		rs := s.gwAttack("partner calls", good)
		s.Expect(rs, "partner calls succeed").To(HaveSuccessShare(">=", 0.99))
	})
	s.Phase("fault", "hide_credentials: true (POST /config)", func() {
		s.reload(x.gw, x.config(true))
		s.Lab.Record("fault-applied", "gateway", "key-auth hide_credentials: true")
		s.waitLive(good, "the upstream refuses the partner's call", func(r load.Result) bool {
			return r.Code == 401 && strings.Contains(r.Body, upstream.UpstreamUnauthorized)
		})
		st0, err := x.up.Control.Stats(s.Ctx)
		s.Must(err, "reading the upstream's counters")
		rs := s.gwAttack("partner calls", good)
		st1, err := x.up.Control.Stats(s.Ctx)
		s.Must(err, "reading the upstream's counters")
		// Realisation: the requests did reach the upstream, which refused them.
		refused := float64(st1.ByStatus["401"] - st0.ByStatus["401"])
		s.Measure("upstream 401s during the attack", refused, "requests", "the upstream's own counter")
		s.Expect(refused/float64(len(rs)), "share of the calls the upstream itself refused").To(BeNumber(">=", 0.95, ""))
		s.Expect(rs, "partner calls: 401").To(HaveStatusShare(401, ">=", 0.95))
		s.Expect(rs, "the body is the upstream's").To(HaveBodyShare(upstream.UpstreamUnauthorized, ">=", 0.95))
		s.Expect(rs, "the upstream never saw the key").To(HaveBodyShare("no apikey header", ">=", 0.95))
		s.Expect(rs, "proxied: X-Kong-Upstream-Latency").To(HaveHeaderShare("X-Kong-Upstream-Latency", "", ">=", 0.95))
		s.Expect(rs, "not Kong's own answer: no X-Kong-Response-Latency").To(HaveHeaderShare("X-Kong-Response-Latency", "", "<=", 0.05))
		s.Expect(rs, "the upstream's challenge, not key-auth's").To(HaveHeaderShare("WWW-Authenticate", `ApiKey realm="orders"`, ">=", 0.95))

		kong401 := s.gwAttack("a wrong key, for comparison", wrong)
		s.Expect(kong401, "a wrong key: Kong's own 401").To(HaveStatusShare(401, ">=", 0.95))
		s.Expect(kong401, "Kong's body").To(HaveBodyShare(`"message":"Unauthorized"`, ">=", 0.95))
		s.Expect(kong401, "Kong answered itself: X-Kong-Response-Latency").To(HaveHeaderShare("X-Kong-Response-Latency", "", ">=", 0.95))
		s.Expect(kong401, "no upstream was contacted").To(HaveHeaderShare("X-Kong-Upstream-Latency", "", "<=", 0.05))
		s.Expect(kong401, "key-auth's challenge").To(HaveHeaderShare("WWW-Authenticate", "Key", ">=", 0.95))
	})
	s.Phase("fix", "forward the key again: hide_credentials: false (POST /config)", func() {
		s.reload(x.gw, x.config(false))
		s.Lab.Record("fault-removed", "gateway", "key-auth hide_credentials: false")
		s.waitLive(good, "the partner's call succeeds", func(r load.Result) bool { return r.Code == 200 })
	})
	s.Phase("recovery", "partner calls succeed", func() {
		rs := s.gwAttack("partner calls", good)
		s.Expect(rs, "partner calls succeed").To(HaveSuccessShare(">=", 0.99))
	})
}
