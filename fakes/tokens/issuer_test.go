package tokens

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/chaoslab/chaoslab/fakes"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 400e6, time.UTC) // .4s: truncation shows

func TestHS256TokenVerifiesWithTheSecret(t *testing.T) {
	clk := newClock(t0)
	s := startIssuer(t, Config{Key: "lab-iss", Secret: "s3cret", Lifetime: 10 * time.Minute,
		Clients: map[string]string{"svc": "pw"}, Now: clk.Now})
	hc := httpClient(t)
	a := postForm(t, hc, s.TokenURL(), grant("svc", "pw"), "", "")
	tr := decodeToken(t, a)
	if tr.TokenType != "Bearer" || tr.ExpiresIn != 600 || a.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("response %+v cache-control %q", tr, a.header.Get("Cache-Control"))
	}
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(tr.AccessToken, claims, func(*jwt.Token) (any, error) { return []byte("s3cret"), nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithTimeFunc(clk.Now), jwt.WithIssuer("lab-iss"), jwt.WithSubject("svc"))
	if err != nil {
		t.Fatalf("verify with the secret: %v", err)
	}
	iat, exp := claims["iat"].(float64), claims["exp"].(float64)
	if iat != float64(t0.Unix()) || exp != iat+600 || claims["nbf"].(float64) != iat {
		t.Fatalf("claims %v: want iat %d (now, whole seconds) and exp = iat + 600", claims, t0.Unix())
	}
	if _, err := jwt.Parse(tr.AccessToken, func(*jwt.Token) (any, error) { return []byte("other"), nil },
		jwt.WithTimeFunc(clk.Now)); !errors.Is(err, jwt.ErrSignatureInvalid) {
		t.Fatalf("a wrong secret verified the token: %v", err)
	}
	if s.Issued() != 1 || s.Secret() != "s3cret" || s.KongJWTSecret() != (KongJWTSecret{Key: "lab-iss", Algorithm: "HS256", Secret: "s3cret"}) {
		t.Fatalf("issued %d kong %+v", s.Issued(), s.KongJWTSecret())
	}
	// Past exp the same token no longer verifies.
	clk.Advance(11 * time.Minute)
	if _, err := jwt.Parse(tr.AccessToken, func(*jwt.Token) (any, error) { return []byte("s3cret"), nil },
		jwt.WithTimeFunc(clk.Now)); !errors.Is(err, jwt.ErrTokenExpired) {
		t.Fatalf("after exp: %v", err)
	}
}

func TestSubSecondLifetimeIsExact(t *testing.T) {
	clk := newClock(t0)
	s := startIssuer(t, Config{Lifetime: 300 * time.Millisecond, Now: clk.Now})
	tr := decodeToken(t, postForm(t, httpClient(t), s.TokenURL(), grant(DefaultClientID, DefaultClientSecret), "", ""))
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(tr.AccessToken, claims); err != nil {
		t.Fatal(err)
	}
	iat, exp := claims["iat"].(float64), claims["exp"].(float64)
	if iat != float64(t0.UnixMilli())/1000 || (exp-iat)*1000 < 299.999 || (exp-iat)*1000 > 300.001 {
		t.Fatalf("iat %v exp %v: want iat = now to the millisecond and exp = iat + 0.3", iat, exp)
	}
	if tr.ExpiresIn != 0 {
		t.Fatalf("expires_in %d: whole seconds rounded down", tr.ExpiresIn)
	}
	if got := expiryOf(tr.AccessToken); !got.Equal(t0.Add(300 * time.Millisecond)) {
		t.Fatalf("client reads exp %s, want %s", got, t0.Add(300*time.Millisecond))
	}
}

func TestRS256TokenVerifiesWithJWKSAndPEM(t *testing.T) {
	clk := newClock(t0)
	s := startIssuer(t, Config{Alg: AlgRS256, Issuer: "https://idp.lab", Now: clk.Now})
	if s.Key() != "https://idp.lab" {
		t.Fatalf("key %q: defaults to the issuer", s.Key())
	}
	hc := httpClient(t)
	// client_secret_basic this time.
	tr := decodeToken(t, postForm(t, hc, s.TokenURL(), map[string][]string{"grant_type": {"client_credentials"}},
		DefaultClientID, DefaultClientSecret))

	var disc struct {
		Issuer        string `json:"issuer"`
		TokenEndpoint string `json:"token_endpoint"`
		JWKSURI       string `json:"jwks_uri"`
	}
	if a := getURL(t, hc, s.URL()+DiscoveryPath); a.status != 200 || json.Unmarshal([]byte(a.body), &disc) != nil {
		t.Fatalf("discovery: %d %s", a.status, a.body)
	}
	if disc.Issuer != "https://idp.lab" || disc.TokenEndpoint != s.TokenURL() || disc.JWKSURI != s.URL()+JWKSPath {
		t.Fatalf("discovery %+v", disc)
	}
	var set JWKS
	if a := getURL(t, hc, disc.JWKSURI); a.status != 200 || json.Unmarshal([]byte(a.body), &set) != nil || len(set.Keys) != 1 {
		t.Fatalf("jwks: %d %s", a.status, a.body)
	}
	jwk := set.Keys[0]
	n, _ := base64.RawURLEncoding.DecodeString(jwk.N)
	e, _ := base64.RawURLEncoding.DecodeString(jwk.E)
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	byKid := func(tok *jwt.Token) (any, error) {
		if tok.Header["kid"] != jwk.Kid || jwk.Kty != "RSA" || jwk.Alg != "RS256" {
			return nil, errors.New("no JWK for kid")
		}
		return pub, nil
	}
	tok, err := jwt.Parse(tr.AccessToken, byKid, jwt.WithValidMethods([]string{"RS256"}),
		jwt.WithTimeFunc(clk.Now), jwt.WithIssuer("https://idp.lab"), jwt.WithSubject(DefaultClientID))
	if err != nil || !tok.Valid {
		t.Fatalf("verify with the JWKS: %v", err)
	}
	fromPEM, err := jwt.ParseRSAPublicKeyFromPEM([]byte(s.KongJWTSecret().RSAPublicKey))
	if err != nil || !fromPEM.Equal(pub) || s.KongJWTSecret().Algorithm != "RS256" || s.KongJWTSecret().Secret != "" {
		t.Fatalf("kong secret %+v: %v", s.KongJWTSecret(), err)
	}
}

func TestBadClientIs401(t *testing.T) {
	s := startIssuer(t, Config{Clients: map[string]string{"svc": "pw"}})
	hc := httpClient(t)
	for name, a := range map[string]answer{
		"wrong secret":   postForm(t, hc, s.TokenURL(), grant("svc", "nope"), "", ""),
		"unknown client": postForm(t, hc, s.TokenURL(), grant("eve", "pw"), "", ""),
		"no credentials": postForm(t, hc, s.TokenURL(), map[string][]string{"grant_type": {"client_credentials"}}, "", ""),
	} {
		if a.status != 401 || a.body != `{"error":"invalid_client"}`+"\n" || a.header.Get("WWW-Authenticate") != "" {
			t.Errorf("%s: %d %q www %q", name, a.status, a.body, a.header.Get("WWW-Authenticate"))
		}
	}
	a := postForm(t, hc, s.TokenURL(), map[string][]string{"grant_type": {"client_credentials"}}, "svc", "nope")
	if a.status != 401 || !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("basic: %d www %q", a.status, a.header.Get("WWW-Authenticate"))
	}
	form := grant("svc", "pw")
	form.Set("grant_type", "password")
	if a := postForm(t, hc, s.TokenURL(), form, "", ""); a.status != 400 || !strings.Contains(a.body, "unsupported_grant_type") {
		t.Errorf("password grant: %d %s", a.status, a.body)
	}
	if a := getURL(t, hc, s.TokenURL()); a.status != 405 {
		t.Errorf("GET token: %d", a.status)
	}
	if s.Rejected() != 4 || s.Issued() != 0 {
		t.Errorf("rejected %d issued %d", s.Rejected(), s.Issued())
	}
	c := &Client{TokenURL: s.TokenURL(), ClientID: "svc", ClientSecret: "nope", HTTP: hc}
	if _, err := c.Token(context.Background()); err == nil || !strings.Contains(err.Error(), `401 Unauthorized: {"error":"invalid_client"}`) {
		t.Errorf("client error: %v", err)
	}
	if st := c.Stats(); st.FetchErrors != 1 || st.Fetches != 0 {
		t.Errorf("client stats %+v", st)
	}
}

func TestControlChangesLifetime(t *testing.T) {
	clk := newClock(t0)
	s := startIssuer(t, Config{Now: clk.Now})
	hc := httpClient(t)
	cc := &ControlClient{Base: s.URL(), HTTP: hc}
	st, err := cc.SetLifetime(context.Background(), 2*time.Second)
	if err != nil || st.Lifetime != "2s" || st.Key != DefaultKey || st.KongJWTSecret.Secret == "" {
		t.Fatalf("state %+v %v", st, err)
	}
	tr := decodeToken(t, postForm(t, hc, s.TokenURL(), grant(DefaultClientID, DefaultClientSecret), "", ""))
	if exp := expiryOf(tr.AccessToken); !exp.Equal(t0.Truncate(time.Second).Add(2*time.Second)) || tr.ExpiresIn != 2 {
		t.Fatalf("exp %s expires_in %d after lifetime 2s", exp, tr.ExpiresIn)
	}
	if _, err := cc.SetLifetime(context.Background(), 0); err == nil || !strings.Contains(err.Error(), "lifetime: must not be zero") {
		t.Fatalf("zero lifetime: %v", err)
	}
	if st, err := cc.State(context.Background()); err != nil || st.Issued != 1 || st.Lifetime != "2s" {
		t.Fatalf("state %+v %v", st, err)
	}
}

func TestNegativeLifetimeIssuesExpiredTokens(t *testing.T) {
	s := startIssuer(t, Config{Lifetime: -time.Minute})
	tok, _, err := s.Mint("x")
	if err != nil {
		t.Fatal(err)
	}
	if exp := expiryOf(tok); !exp.Before(time.Now()) {
		t.Fatalf("exp %s is not in the past", exp)
	}
}

func TestArgsRoundTrip(t *testing.T) {
	for _, in := range []Config{
		{Listen: "127.0.0.1:0"},
		{Listen: "127.0.0.1:7", Issuer: "https://idp.lab", Key: "k", Alg: AlgHS256, Secret: "s:x",
			Lifetime: 1500 * time.Millisecond, Clients: map[string]string{"a": "1", "b": "p:w"}},
	} {
		var out Config
		fs := flag.NewFlagSet("tokens", flag.ContinueOnError)
		out.RegisterFlags(fs)
		if err := fs.Parse(in.Args()); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(in, out) {
			t.Fatalf("round trip:\n in %+v\nout %+v", in, out)
		}
	}
}

func TestBadConfig(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Alg: "none"}, "--alg: must be HS256 or RS256"},
		{Config{Alg: AlgRS256, Secret: "x"}, "--secret: only with --alg HS256"},
		{Config{Clients: map[string]string{"a": ""}}, `--client: client "a" has an empty secret`},
		{Config{Listen: "nope:-1"}, "--listen"},
	} {
		if _, err := Start(context.Background(), c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want %q", c.cfg, err, c.want)
		}
	}
	fs := flag.NewFlagSet("tokens", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var c Config
	c.RegisterFlags(fs)
	if err := fs.Parse([]string{"--client", "nosecret"}); err == nil || !strings.Contains(err.Error(), "want ID:SECRET") {
		t.Errorf("--client nosecret: %v", err)
	}
}

func TestRegisteredStarter(t *testing.T) {
	def, ok := fakes.Lookup("tokens")
	if !ok {
		t.Fatal(`"tokens" is not registered`)
	}
	fs := flag.NewFlagSet("tokens", flag.ContinueOnError)
	start := def.Flags(fs)
	if err := fs.Parse([]string{"--key", "kong-key", "--secret", "abc", "--client", "svc:pw", "--lifetime", "5s"}); err != nil {
		t.Fatal(err)
	}
	srv, err := start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	want := map[string]string{"token": srv.URL() + TokenPath, "iss": "kong-key", "alg": "HS256", "secret": "abc", "clients": "svc"}
	if !reflect.DeepEqual(srv.Info(), want) {
		t.Fatalf("info %q, want %q", srv.Info(), want)
	}
	if s := srv.(*Server); s.Lifetime() != 5*time.Second {
		t.Fatalf("lifetime %s", s.Lifetime())
	}
}
