package tokens

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/chaoslab/chaoslab/fakes/kong"
)

// kongWithJWT starts the Kong emulation with the jwt plugin verifying exp and
// one consumer holding the issuers' jwt_secrets entries, as a lab's kong.yml
// would be written from KongJWTSecret.
func kongWithJWT(t *testing.T, upstream string, secrets ...KongJWTSecret) *kong.Gateway {
	t.Helper()
	cfg := map[string]any{
		"_format_version": "3.0",
		"services": []any{map[string]any{
			"name": "api", "url": upstream,
			"routes":  []any{map[string]any{"name": "api", "paths": []string{"/api"}}},
			"plugins": []any{map[string]any{"name": "jwt", "config": map[string]any{"claims_to_verify": []string{"exp"}}}},
		}},
		"consumers": []any{map[string]any{"username": "svc", "jwt_secrets": secrets}},
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g, err := kong.Start(context.Background(), kong.Options{Config: b})
	if err != nil {
		t.Fatalf("kong.yml:\n%s\n%v", b, err)
	}
	t.Cleanup(func() { _ = g.Close() })
	return g
}

func okUpstream(t *testing.T) string {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "consumer="+r.Header.Get("X-Consumer-Username"))
	}))
	t.Cleanup(up.Close)
	return up.URL
}

func call(t *testing.T, hc *http.Client, url string) answer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	return doReq(t, hc, req)
}

// Kong accepts the issuer's tokens, HS256 and RS256, found by iss, and
// rejects an expired one with its exact body.
func TestKongVerifiesIssuedTokens(t *testing.T) {
	hs := startIssuer(t, Config{Key: "hs-iss"})
	rs := startIssuer(t, Config{Key: "rs-iss", Alg: AlgRS256})
	expired := startIssuer(t, Config{Key: "old-iss", Lifetime: -time.Minute})
	g := kongWithJWT(t, okUpstream(t), hs.KongJWTSecret(), rs.KongJWTSecret(), expired.KongJWTSecret())
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	for _, c := range []struct {
		issuer *Server
		status int
		body   string
	}{
		{hs, 200, "consumer=svc"},
		{rs, 200, "consumer=svc"},
		{expired, 401, `{"exp":"token expired"}`},
	} {
		cl := &Client{TokenURL: c.issuer.TokenURL(), ClientID: DefaultClientID, ClientSecret: DefaultClientSecret, HTTP: httpClient(t)}
		a := call(t, &http.Client{Transport: cl.Wrap(tr), Timeout: 5 * time.Second}, g.ProxyURL()+"/api")
		if a.status != c.status || a.body != c.body {
			t.Errorf("%s: got %d %q, want %d %q", c.issuer.Key(), a.status, a.body, c.status, c.body)
		}
	}
}

// The incident gateway/401-expired-token on the real clock: the client that
// caches past expiry starts getting 401 {"exp":"token expired"} from Kong
// while the one that refreshes ahead keeps getting 200. Kong compares exp
// with whole seconds, so the symptom shows within ~1.3s of a 300ms token.
func TestCachingPastExpiryGetsKong401(t *testing.T) {
	s := startIssuer(t, Config{Lifetime: 300 * time.Millisecond})
	g := kongWithJWT(t, okUpstream(t), s.KongJWTSecret())
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	newClient := func(c *Client) *http.Client {
		c.TokenURL, c.ClientID, c.ClientSecret, c.HTTP = s.TokenURL(), DefaultClientID, DefaultClientSecret, httpClient(t)
		return &http.Client{Transport: c.Wrap(tr), Timeout: 5 * time.Second}
	}
	// A token the healthy client sends has >= 250ms left: a stall on a busy
	// machine would have to be longer than that to fail it.
	healthy, buggy := &Client{RefreshBefore: 250 * time.Millisecond}, &Client{CachePastExpiry: true}
	hh, bh := newClient(healthy), newClient(buggy)

	deadline := time.Now().Add(5 * time.Second)
	var last answer
	for time.Now().Before(deadline) {
		if a := call(t, hh, g.ProxyURL()+"/api"); a.status != 200 {
			t.Fatalf("the refreshing client got %d %q", a.status, a.body)
		}
		if last = call(t, bh, g.ProxyURL()+"/api"); last.status != 200 {
			break
		}
		time.Sleep(50 * time.Millisecond) // pacing, not a readiness wait
	}
	if last.status != 401 || last.body != `{"exp":"token expired"}` {
		t.Fatalf("caching client: got %d %q, want 401 {\"exp\":\"token expired\"}", last.status, last.body)
	}
	if buggy.Stats().Fetches != 1 || buggy.Stats().ExpiredServed == 0 || healthy.Stats().Fetches < 2 {
		t.Fatalf("buggy %+v healthy %+v", buggy.Stats(), healthy.Stats())
	}
}
