package tokens

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Client gets client_credentials tokens and caches them, the way service
// code does. A Client must not be copied after first use.
//
// A healthy client refreshes before exp (RefreshBefore ahead). With
// CachePastExpiry it reproduces the incident gateway/401-expired-token: the
// cache ignores exp and keeps sending a token Kong answers with 401
// {"exp":"token expired"} until the cache entry goes (CacheTTL) or
// Invalidate is called.
type Client struct {
	TokenURL     string
	ClientID     string
	ClientSecret string
	// RefreshBefore fetches a new token once the cached one expires within
	// this margin (0: only when it has expired).
	RefreshBefore time.Duration
	// CachePastExpiry is the bug: the cached token is used whatever its exp.
	CachePastExpiry bool
	// CacheTTL, with CachePastExpiry, is how long a token stays cached after
	// it was fetched (0: until Invalidate). A TTL longer than the token's
	// lifetime is the usual form of the bug: 401s that come and go.
	CacheTTL time.Duration
	// BasicAuth sends the client credentials with HTTP Basic
	// (client_secret_basic) instead of form fields (client_secret_post).
	BasicAuth bool
	// HTTP fetches tokens (default http.DefaultClient). It must not be a
	// client whose transport is this Client's Wrap.
	HTTP *http.Client
	// Now is the client's clock (default time.Now).
	Now func() time.Time

	once sync.Once
	sem  chan struct{} // one holder: callers share one fetch, and can give up waiting

	token     string
	exp       time.Time // zero: the token said nothing about expiry
	fetchedAt time.Time

	fetches, fetchErrors, cacheHits, expiredServed atomic.Int64
}

// ClientStats are the client's counters.
type ClientStats struct {
	Fetches       int64 `json:"fetches"`        // tokens fetched from the issuer
	FetchErrors   int64 `json:"fetch_errors"`   // failed fetches
	CacheHits     int64 `json:"cache_hits"`     // Token calls answered from the cache
	ExpiredServed int64 `json:"expired_served"` // of those, with a token past its exp (the bug at work)
}

// Stats returns the counters.
func (c *Client) Stats() ClientStats {
	return ClientStats{Fetches: c.fetches.Load(), FetchErrors: c.fetchErrors.Load(),
		CacheHits: c.cacheHits.Load(), ExpiredServed: c.expiredServed.Load()}
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Client) lock(ctx context.Context) error {
	c.once.Do(func() { c.sem = make(chan struct{}, 1) })
	select {
	case c.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Client) unlock() { <-c.sem }

// Token returns a bearer token: the cached one while it is fresh (or, with
// CachePastExpiry, while the cache keeps it), else a new one from the
// issuer. Concurrent callers share one fetch.
func (c *Client) Token(ctx context.Context) (string, error) {
	if err := c.lock(ctx); err != nil {
		return "", err
	}
	defer c.unlock()
	now := c.now()
	if c.token != "" && c.cacheable(now) {
		c.cacheHits.Add(1)
		if !c.exp.IsZero() && !now.Before(c.exp) {
			c.expiredServed.Add(1)
		}
		return c.token, nil
	}
	tok, exp, err := c.fetch(ctx, now)
	if err != nil {
		c.fetchErrors.Add(1)
		return "", err
	}
	c.fetches.Add(1)
	c.token, c.exp, c.fetchedAt = tok, exp, now
	return tok, nil
}

func (c *Client) cacheable(now time.Time) bool {
	if c.CachePastExpiry {
		return c.CacheTTL <= 0 || now.Before(c.fetchedAt.Add(c.CacheTTL))
	}
	return c.exp.IsZero() || now.Before(c.exp.Add(-c.RefreshBefore))
}

// Expiry is the exp of the cached token (zero when none is cached or the
// token did not say).
func (c *Client) Expiry(ctx context.Context) (time.Time, error) {
	if err := c.lock(ctx); err != nil {
		return time.Time{}, err
	}
	defer c.unlock()
	return c.exp, nil
}

// Invalidate drops the cached token, so the next Token call fetches: what a
// client that handles 401 by refreshing does.
func (c *Client) Invalidate() {
	_ = c.lock(context.Background())
	defer c.unlock()
	c.token, c.exp, c.fetchedAt = "", time.Time{}, time.Time{}
}

func (c *Client) fetch(ctx context.Context, now time.Time) (string, time.Time, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if !c.BasicAuth {
		form.Set("client_id", c.ClientID)
		form.Set("client_secret", c.ClientSecret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", time.Time{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if c.BasicAuth {
		req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret))
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("tokens: POST %s: %w", c.TokenURL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return "", time.Time{}, fmt.Errorf("tokens: POST %s: %s: %s", c.TokenURL, resp.Status, strings.TrimSpace(string(body)))
	}
	var tr TokenResponse
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
		return "", time.Time{}, fmt.Errorf("tokens: POST %s: no access_token in %q", c.TokenURL, body)
	}
	exp := expiryOf(tr.AccessToken)
	if exp.IsZero() && tr.ExpiresIn > 0 {
		exp = now.Add(time.Duration(tr.ExpiresIn) * time.Second)
	}
	return tr.AccessToken, exp, nil
}

// expiryOf reads a JWT's exp without verifying it (the client cannot: it
// has no key), keeping milliseconds: jwt's NumericDate parsing truncates to
// its package-wide TimePrecision, a second by default, which would lose a
// time-compressed lab's 300ms lifetime.
func expiryOf(token string) time.Time {
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(token, claims); err != nil {
		return time.Time{}
	}
	f, ok := claims["exp"].(float64)
	if !ok {
		return time.Time{}
	}
	return time.UnixMilli(int64(math.Round(f * 1000)))
}
