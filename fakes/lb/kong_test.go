package lb

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/chaoslab/chaoslab/fakes/kong"
	"github.com/chaoslab/chaoslab/fakes/tokens"
)

// The incident end to end: a client with a valid bearer token goes through
// the hop to Kong's jwt plugin. While the hop strips Authorization, Kong
// answers 401 {"message":"Unauthorized"} with WWW-Authenticate: Bearer;
// after the fix through the control API the same client gets 200.
func TestStrippedAuthorizationIsKong401UntilFixed(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "consumer="+r.Header.Get("X-Consumer-Username"))
	}))
	defer up.Close()
	issuer, err := tokens.Start(context.Background(), tokens.Config{Key: "lab-iss"})
	if err != nil {
		t.Fatal(err)
	}
	defer issuer.Close()
	kongYML, err := yaml.Marshal(map[string]any{
		"_format_version": "3.0",
		"services": []any{map[string]any{"name": "api", "url": up.URL,
			"routes":  []any{map[string]any{"name": "api", "paths": []string{"/api"}}},
			"plugins": []any{map[string]any{"name": "jwt", "config": map[string]any{"claims_to_verify": []string{"exp"}}}}}},
		"consumers": []any{map[string]any{"username": "svc", "jwt_secrets": []any{issuer.KongJWTSecret()}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	g, err := kong.Start(context.Background(), kong.Options{Config: kongYML})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	hop := startLB(t, Config{Backend: g.ProxyURL(), StripAuthorization: true})

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	tc := &tokens.Client{TokenURL: issuer.TokenURL(), ClientID: tokens.DefaultClientID,
		ClientSecret: tokens.DefaultClientSecret, HTTP: &http.Client{Transport: tr}}
	hc := &http.Client{Transport: tc.Wrap(tr), Timeout: 5 * time.Second}
	get := func() (int, string, string) {
		resp, err := hc.Get(hop.URL() + "/api")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header.Get("WWW-Authenticate")
	}

	if code, body, www := get(); code != 401 || body != `{"message":"Unauthorized"}` || www != "Bearer" {
		t.Fatalf("fault: got %d %q www %q, want Kong's 401 for a missing token", code, body, www)
	}
	if _, err := (&Client{Base: hop.URL(), HTTP: &http.Client{Transport: tr}}).PreserveAuthorization(context.Background()); err != nil {
		t.Fatal(err)
	}
	if code, body, _ := get(); code != 200 || body != "consumer=svc" {
		t.Fatalf("fixed: got %d %q", code, body)
	}
	if st := hop.Stats(); st != (Stats{Requests: 2, AuthorizationSeen: 2, AuthorizationStripped: 1}) {
		t.Fatalf("stats %+v", st)
	}
}
