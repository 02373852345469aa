package scenarios

import (
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"

	. "github.com/chaoslab/chaoslab/assertions"
	"github.com/chaoslab/chaoslab/fakes/lb"
	"github.com/chaoslab/chaoslab/fakes/upstream"
	"github.com/chaoslab/chaoslab/lab"
	"github.com/chaoslab/chaoslab/load"
)

func init() {
	Register(Scenario{
		ID:      "gateway/401-lb-strips-authorization",
		Title:   "A load balancer in front of Kong drops the Authorization header: 401",
		Symptom: "through the LB: 401 'No API key found in request' (key-auth) and 'Unauthorized' (jwt) >= 95%; bypassing the LB: 200; LB preserving the header: 200",
		Story: `A new F5 (or Cloudflare) policy is rolled out in front of the API gateway. Partners start getting 401s on ` +
			`every call although their keys and tokens are valid, and the same calls work from inside the network. The new ` +
			`policy removes the Authorization header on the way in.`,
		Lesson: `Kong's 401 bodies say which credential was missing: key-auth's "No API key found in request" means no ` +
			`header (or query parameter) with the key arrived at all — not a wrong key, which is "Unauthorized" (3.6+). jwt's ` +
			`{"message":"Unauthorized"} with WWW-Authenticate: Bearer means no token was found. When the same request works ` +
			`when sent to Kong directly, a hop in front changed it.

Send the request to Kong directly (bypassing the LB) and compare; look at what arrives with an echo upstream. Fix: ` +
			`make the LB preserve Authorization (or move the credential to a header the LB passes).`,
		New: func() Play { return &gw401LB{} },
	})
}

type gw401LB struct {
	gwSetup
	hop   *lab.LB
	ctl   *lb.Client
	token string
}

const (
	partnerKey    = "partner-key-7f3a"
	partnerIss    = "partner-iss"
	partnerSecret = "partner-jwt-secret-with-enough-entropy"
)

func (x *gw401LB) config() string {
	return kongYAML(`consumers:
- username: partner
  keyauth_credentials: [{key: `+partnerKey+`}]
  jwt_secrets: [{key: `+partnerIss+`, algorithm: HS256, secret: `+partnerSecret+`}]
`, services(
		service("orders", httpURL("http", x.up), "plugins:", "- name: key-auth", "  config: {key_names: [Authorization]}"),
		service("payments", httpURL("http", x.up), "plugins:", "- name: jwt", "  config: {claims_to_verify: [exp]}")))
}

func (x *gw401LB) Setup(s *S) {
	x.up = s.startUpstream("orders", upstream.Config{})
	x.gw = s.startGateway(x.config())
	var err error
	x.hop, err = s.Lab.LB(s.Ctx, lb.Config{Backend: x.gw.ProxyURL()})
	s.Must(err, "starting the load balancer")
	x.ctl = x.hop.Control
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss": partnerIss, "sub": "partner", "exp": time.Now().Add(time.Hour).Unix()})
	x.token, err = tok.SignedString([]byte(partnerSecret))
	s.Must(err, "signing the partner's token")
	s.Command("Through the load balancer", "curl -si -H 'Authorization: "+partnerKey+"' "+x.hop.URL()+"/orders")
	s.Command("Bypassing it, straight to Kong", "curl -si -H 'Authorization: "+partnerKey+"' "+x.gw.ProxyURL()+"/orders")
}

func (x *gw401LB) targets(base string) (key, bearer load.Target) {
	key = load.Target{Method: "GET", URL: base + "/orders", Header: http.Header{"Authorization": {partnerKey}}}
	bearer = load.Target{Method: "GET", URL: base + "/payments", Header: http.Header{"Authorization": {"Bearer " + x.token}}}
	return key, bearer
}

func (x *gw401LB) Run(s *S) {
	viaKey, viaJWT := x.targets(x.hop.URL())
	s.Phase("baseline", "the LB passes Authorization", func() {
		s.Expect(s.gwAttack("key-auth via LB", viaKey), "key-auth calls succeed").To(HaveSuccessShare(">=", 0.99))
		s.Expect(s.gwAttack("jwt via LB", viaJWT), "jwt calls succeed").To(HaveSuccessShare(">=", 0.99))
	})
	s.Phase("fault", "the LB strips Authorization", func() {
		st, err := x.ctl.StripAuthorization(s.Ctx)
		s.Must(err, "changing the LB policy")
		s.Lab.Record("fault-applied", "lb", "strip Authorization")
		if !st.Policy.StripAuthorization {
			s.Failf("the LB did not take the strip policy: %+v", st)
		}
		keys := s.gwAttack("key-auth via LB", viaKey)
		s.Expect(keys, "key-auth: 401").To(HaveStatusShare(401, ">=", 0.95))
		s.Expect(keys, "no key arrived at all").To(HaveBodyShare("No API key found in request", ">=", 0.95))
		s.Expect(keys, "key-auth's challenge").To(HaveHeaderShare("WWW-Authenticate", "Key", ">=", 0.95))
		jwts := s.gwAttack("jwt via LB", viaJWT)
		s.Expect(jwts, "jwt: 401").To(HaveStatusShare(401, ">=", 0.95))
		s.Expect(jwts, "no token arrived").To(HaveBodyShare(`"message":"Unauthorized"`, ">=", 0.95))
		directKey, directJWT := x.targets(x.gw.ProxyURL())
		s.Expect(s.gwAttack("key-auth bypassing the LB", directKey), "bypassing the LB works").To(HaveSuccessShare(">=", 0.99))
		s.Expect(s.gwAttack("jwt bypassing the LB", directJWT), "bypassing the LB works").To(HaveSuccessShare(">=", 0.99))
	})
	s.Phase("fix", "the LB preserves Authorization", func() {
		_, err := x.ctl.PreserveAuthorization(s.Ctx)
		s.Must(err, "changing the LB policy")
		s.Lab.Record("fault-removed", "lb", "strip Authorization")
	})
	s.Phase("recovery", "calls through the LB succeed", func() {
		s.Expect(s.gwAttack("key-auth via LB", viaKey), "key-auth calls succeed").To(HaveSuccessShare(">=", 0.99))
		s.Expect(s.gwAttack("jwt via LB", viaJWT), "jwt calls succeed").To(HaveSuccessShare(">=", 0.99))
	})
}
