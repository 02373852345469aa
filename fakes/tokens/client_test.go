package tokens

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// issuerAndClient starts an issuer with lifetime 300ms on a hand-driven
// clock and a client sharing the clock.
func issuerAndClient(t *testing.T, c *Client) (*Server, *Client, *clock) {
	t.Helper()
	clk := newClock(t0)
	s := startIssuer(t, Config{Lifetime: 300 * time.Millisecond, Now: clk.Now})
	c.TokenURL, c.ClientID, c.ClientSecret = s.TokenURL(), DefaultClientID, DefaultClientSecret
	c.HTTP, c.Now = httpClient(t), clk.Now
	return s, c, clk
}

func mustToken(t *testing.T, c *Client) string {
	t.Helper()
	tok, err := c.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestClientRefreshesBeforeExpiry(t *testing.T) {
	s, c, clk := issuerAndClient(t, &Client{RefreshBefore: 100 * time.Millisecond})
	first := mustToken(t, c)
	clk.Advance(150 * time.Millisecond) // 150ms before exp: still fresh
	if mustToken(t, c) != first {
		t.Fatal("refreshed a token 150ms before exp with RefreshBefore 100ms")
	}
	clk.Advance(60 * time.Millisecond) // 90ms before exp: inside the margin
	second := mustToken(t, c)
	if second == first {
		t.Fatal("kept the token 90ms before exp with RefreshBefore 100ms")
	}
	if exp, _ := c.Expiry(context.Background()); !exp.Equal(t0.Add(510 * time.Millisecond)) {
		t.Fatalf("new token expires %s, want fetch time + 300ms", exp)
	}
	if st := c.Stats(); st != (ClientStats{Fetches: 2, CacheHits: 1}) || s.Issued() != 2 {
		t.Fatalf("stats %+v issued %d", st, s.Issued())
	}
}

func TestClientWithoutMarginRefreshesAtExpiry(t *testing.T) {
	_, c, clk := issuerAndClient(t, &Client{})
	first := mustToken(t, c)
	clk.Advance(299 * time.Millisecond)
	if mustToken(t, c) != first {
		t.Fatal("refreshed before exp")
	}
	clk.Advance(time.Millisecond) // now == exp: Kong calls that expired (exp <= now)
	if mustToken(t, c) == first {
		t.Fatal("used the token at its exp")
	}
	if st := c.Stats(); st.ExpiredServed != 0 || st.Fetches != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestClientCachingPastExpiryKeepsTheExpiredToken(t *testing.T) {
	s, c, clk := issuerAndClient(t, &Client{CachePastExpiry: true, RefreshBefore: 100 * time.Millisecond})
	first := mustToken(t, c)
	clk.Advance(250 * time.Millisecond) // inside RefreshBefore: the bug ignores it too
	if mustToken(t, c) != first {
		t.Fatal("refreshed: CachePastExpiry must ignore exp")
	}
	clk.Advance(10 * time.Second)
	if mustToken(t, c) != first {
		t.Fatal("refreshed 10s after exp: CachePastExpiry must keep the token")
	}
	if _, err := jwt.Parse(first, func(*jwt.Token) (any, error) { return []byte(s.Secret()), nil },
		jwt.WithTimeFunc(clk.Now)); !errors.Is(err, jwt.ErrTokenExpired) {
		t.Fatalf("the kept token should be expired now: %v", err)
	}
	if st := c.Stats(); st != (ClientStats{Fetches: 1, CacheHits: 2, ExpiredServed: 1}) {
		t.Fatalf("stats %+v", st)
	}
	c.Invalidate()
	if mustToken(t, c) == first || c.Stats().Fetches != 2 {
		t.Fatal("Invalidate did not drop the token")
	}
}

func TestClientCacheTTLLongerThanLifetime(t *testing.T) {
	_, c, clk := issuerAndClient(t, &Client{CachePastExpiry: true, CacheTTL: time.Second})
	first := mustToken(t, c)
	clk.Advance(500 * time.Millisecond) // expired, still cached
	if mustToken(t, c) != first || c.Stats().ExpiredServed != 1 {
		t.Fatalf("stats %+v", c.Stats())
	}
	clk.Advance(500 * time.Millisecond) // the cache entry's TTL is over
	if mustToken(t, c) == first {
		t.Fatal("kept the token past CacheTTL")
	}
}

// The same on the real clock with a 300ms lifetime: one short wait past exp.
func TestClientsOnTheRealClock(t *testing.T) {
	s := startIssuer(t, Config{Lifetime: 300 * time.Millisecond})
	hc := httpClient(t)
	healthy := &Client{TokenURL: s.TokenURL(), ClientID: DefaultClientID, ClientSecret: DefaultClientSecret, HTTP: hc, BasicAuth: true}
	buggy := &Client{TokenURL: s.TokenURL(), ClientID: DefaultClientID, ClientSecret: DefaultClientSecret, HTTP: hc, CachePastExpiry: true}
	before := time.Now()
	h1, b1 := mustToken(t, healthy), mustToken(t, buggy)
	exp, _ := healthy.Expiry(context.Background())
	// exp is iat + 300ms to the millisecond, iat taken during the fetch.
	if lo, hi := before.Add(299*time.Millisecond), time.Now().Add(300*time.Millisecond); exp.Before(lo) || exp.After(hi) {
		t.Fatalf("exp %s, want between %s and %s", exp, lo, hi)
	}
	time.Sleep(time.Until(exp) + 20*time.Millisecond)
	if mustToken(t, healthy) == h1 {
		t.Fatal("healthy client kept a token past exp")
	}
	if mustToken(t, buggy) != b1 {
		t.Fatal("buggy client refreshed")
	}
	verify := func(tok string) error {
		_, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return []byte(s.Secret()), nil })
		return err
	}
	if err := verify(b1); !errors.Is(err, jwt.ErrTokenExpired) {
		t.Fatalf("buggy client's token: %v, want expired", err)
	}
	if healthy.Stats().Fetches != 2 || buggy.Stats().ExpiredServed != 1 {
		t.Fatalf("healthy %+v buggy %+v", healthy.Stats(), buggy.Stats())
	}
}

func TestConcurrentCallersShareOneFetch(t *testing.T) {
	_, c, _ := issuerAndClient(t, &Client{})
	var wg sync.WaitGroup
	toks := make([]string, 20)
	for i := range toks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			toks[i], _ = c.Token(context.Background())
		}()
	}
	wg.Wait()
	for _, tok := range toks {
		if tok == "" || tok != toks[0] {
			t.Fatal("callers got different or no tokens")
		}
	}
	if st := c.Stats(); st.Fetches != 1 || st.CacheHits != 19 {
		t.Fatalf("stats %+v", st)
	}
}

func TestWrapAddsBearer(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
	}))
	defer api.Close()
	_, c, _ := issuerAndClient(t, &Client{})
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: c.Wrap(tr), Timeout: 5 * time.Second}
	req, _ := http.NewRequest(http.MethodGet, api.URL, nil)
	req.Header.Set("Authorization", "Basic old")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	tok := mustToken(t, c)
	if len(seen) != 1 || seen[0] != "Bearer "+tok {
		t.Fatalf("api saw %q, want Bearer %s", seen, tok)
	}
	if req.Header.Get("Authorization") != "Basic old" {
		t.Fatal("Wrap changed the caller's request")
	}

	c.ClientSecret = "wrong"
	c.Invalidate()
	_, err = hc.Post(api.URL, "text/plain", strings.NewReader("body"))
	if err == nil || !strings.Contains(err.Error(), "invalid_client") || len(seen) != 1 {
		t.Fatalf("token failure: err %v, api saw %d requests", err, len(seen))
	}
}

func TestTokenHonoursContext(t *testing.T) {
	_, c, _ := issuerAndClient(t, &Client{})
	if err := c.lock(context.Background()); err != nil { // a fetch in progress
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Token(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("waiting caller: %v", err)
	}
	c.unlock()
}
