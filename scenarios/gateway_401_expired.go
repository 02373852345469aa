package scenarios

import (
	"fmt"
	"net/http"
	"time"

	. "github.com/chaoslab/chaoslab/assertions"
	"github.com/chaoslab/chaoslab/fakes/tokens"
	"github.com/chaoslab/chaoslab/fakes/upstream"
	"github.com/chaoslab/chaoslab/lab"
	"github.com/chaoslab/chaoslab/load"
)

func init() {
	Register(Scenario{
		ID:      "gateway/401-expired-token",
		Title:   "A client caches its access token past expiry: intermittent 401s",
		Symptom: `a client caching tokens past exp gets intermittent 401 {"exp":"token expired"} (>= 30% 401 and >= 15% 200); refreshing before expiry: 200 >= 99%`,
		Story: `A service calls a partner API through Kong with OAuth client-credentials tokens. Its token cache was given a ` +
			`fixed TTL longer than the token lifetime. For a while after each fetch everything works, then every call fails ` +
			`with 401 until the cache entry goes: on dashboards, waves of 401s that come and go.`,
		Lesson: `Kong's jwt plugin with claims_to_verify: [exp] answers exactly {"exp":"token expired"} for a token past its exp. ` +
			`401s in waves whose period matches a cache TTL point at a client serving stale tokens. Decode one failing ` +
			`token (the middle part of the JWT is base64 JSON) and compare exp with the time of the request.

Fix: cache by the token's own expiry and refresh a little before it (a margin for clock skew and request time).`,
		New: func() Play { return &gw401Expired{} },
	})
}

type gw401Expired struct {
	gwSetup
	issuer *lab.Tokens
}

const (
	tokenLifetime = 2 * time.Second
	tokenKey      = "orders-app"
	tokenSecret   = "orders-app-signing-secret-0123456789"
	staleCacheTTL = 4 * time.Second
)

func (x *gw401Expired) Setup(s *S) {
	x.up = s.startUpstream("payments", upstream.Config{})
	var err error
	x.issuer, err = s.Lab.Tokens(s.Ctx, tokens.Config{Key: tokenKey, Secret: tokenSecret, Lifetime: tokenLifetime})
	s.Must(err, "starting the token issuer")
	x.gw = s.startGateway(kongYAML(`consumers:
- username: orders-app
  jwt_secrets: [{key: `+tokenKey+`, algorithm: HS256, secret: `+tokenSecret+`}]
`, services(service("payments", httpURL("http", x.up), "plugins:", "- name: jwt", "  config: {claims_to_verify: [exp]}"))))
	tokenURL := x.issuer.TokenURL()
	s.Command("Get a token", "curl -s -d grant_type=client_credentials -d client_id="+tokens.DefaultClientID+" -d client_secret="+tokens.DefaultClientSecret+" "+tokenURL)
	s.Command("Read its exp", `cut -d. -f2 <<<"$TOKEN" | base64 -d 2>/dev/null; echo`)
	s.Command("Call the API with it", "curl -si -H \"Authorization: Bearer $TOKEN\" "+x.gw.ProxyURL()+"/payments")
}

func (x *gw401Expired) client(buggy bool) *tokens.Client {
	c := &tokens.Client{TokenURL: x.issuer.TokenURL(),
		ClientID: tokens.DefaultClientID, ClientSecret: tokens.DefaultClientSecret, RefreshBefore: 300 * time.Millisecond}
	if buggy {
		c.RefreshBefore, c.CachePastExpiry, c.CacheTTL = 0, true, staleCacheTTL
	}
	return c
}

func (x *gw401Expired) attack(s *S, name string, c *tokens.Client) load.Results {
	return s.Attack(name, []load.Target{target("GET", x.gw.ProxyURL()+"/payments")}, load.Constant(gwRate), 4*time.Second,
		load.WithTransport(func(rt http.RoundTripper) http.RoundTripper { return c.Wrap(rt) }))
}

func (x *gw401Expired) Run(s *S) {
	s.Phase("baseline", "a client that refreshes before exp, across three token lifetimes", func() {
		c := x.client(false)
		s.Expect(x.attack(s, "refreshing client", c), "calls succeed").To(HaveSuccessShare(">=", 0.99))
	})
	s.Phase("fault", fmt.Sprintf("a client that caches tokens for %s; they live %s", staleCacheTTL, tokenLifetime), func() {
		c := x.client(true)
		rs := x.attack(s, "stale cache", c)
		st := c.Stats()
		s.Measure("stale tokens sent", float64(st.ExpiredServed), "requests", "the client's own count: the fault is real")
		s.Measure("token fetches", float64(st.Fetches), "fetches", "")
		s.Expect(float64(st.ExpiredServed), "the client really sent expired tokens").To(BeNumber(">", 0, "requests"))
		s.Expect(rs, "Kong refuses the expired tokens").To(HaveStatusShare(401, ">=", 0.30))
		s.Expect(rs, "...but not all calls fail: intermittent").To(HaveStatusShare(200, ">=", 0.15))
		s.Expect(rs.Filter(func(r load.Result) bool { return r.Code == 401 }), "Kong's expired-token body").
			To(HaveBodyShare(`{"exp":"token expired"}`, ">=", 0.99))
	})
	s.Phase("fix", "cache by the token's exp and refresh 300 ms before it", func() {})
	s.Phase("recovery", "no more 401s", func() {
		c := x.client(false)
		rs := x.attack(s, "refreshing client", c)
		s.Expect(rs, "calls succeed").To(HaveSuccessShare(">=", 0.99))
		s.Expect(float64(c.Stats().Fetches), "the client refreshed as tokens aged").To(BeNumber(">=", 2, "fetches"))
	})
}
