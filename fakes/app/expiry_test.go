package app

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chaoslab/chaoslab/fakes/imds"
)

// These tests use credentials that live a few seconds, so expiry happens
// while the test watches, with the real SDK's real clock. Expiration has
// whole seconds, so the lifetime is what is left of TTL after rounding down;
// the assertions use the Expiration the app reports, not the TTL.

// sample is one request as the client saw it.
type sample struct {
	sent, recv time.Time
	status     int
	body       string
	expiration time.Time // X-Creds-Expiration, zero when absent
}

func probe(t *testing.T, c *http.Client, url string) sample {
	t.Helper()
	s := sample{sent: time.Now()}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	s.recv, s.status, s.body = time.Now(), resp.StatusCode, string(b)
	s.expiration, _ = time.Parse(time.RFC3339, resp.Header.Get(HeaderCredsExpiration))
	return s
}

// untilError sends requests every 20 ms until one is not 200, for at most
// limit, and returns them all.
func untilError(t *testing.T, c *http.Client, url string, limit time.Duration) []sample {
	t.Helper()
	var out []sample
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		s := probe(t, c, url)
		out = append(out, s)
		if s.status != 200 {
			return out
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no error within %s; last: %+v", limit, out[len(out)-1])
	return nil
}

// checkErrorsBeginAt asserts every 200 was asked for before `from` and the
// first error was answered at or after it.
func checkErrorsBeginAt(t *testing.T, got []sample, from time.Time) sample {
	t.Helper()
	first := got[len(got)-1]
	for _, s := range got[:len(got)-1] {
		if !s.sent.Before(from) {
			t.Fatalf("a 200 asked for at %s, after errors should have begun at %s", s.sent.Format(time.RFC3339Nano), from)
		}
	}
	if first.recv.Before(from) {
		t.Fatalf("first error (%d %s) at %s, before %s", first.status, first.body, first.recv.Format(time.RFC3339Nano), from)
	}
	if len(got) < 3 {
		t.Fatalf("only %d requests before the first error; the credentials did not serve a while", len(got)-1)
	}
	return first
}

// sdk rule, refresh fails after the credentials expired: the pinned SDK
// cache does not return an error. ec2rolecreds.HandleFailToRefresh moves the
// expired credentials' Expires 5-15 minutes ahead and the cache hands them
// out; the app sees they are past the service's Expiration and answers 502
// ExpiredToken, as AWS would. Errors begin at expiry, not before.
func TestRefreshFailureAfterExpiry(t *testing.T) {
	for _, invalidate := range []bool{false, true} {
		name := map[bool]string{false: "pure SDK", true: "InvalidateExpired"}[invalidate]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			md := startIMDS(t, imds.Config{TTL: 2 * time.Second})
			dep := startDependency(t, 0)
			a := startApp(t, Config{IMDSEndpoint: md.URL(), DependencyURL: dep.URL, IMDSMaxAttempts: 1, InvalidateExpired: invalidate})
			c := client(t)
			first := probe(t, c, a.URL())
			if first.status != 200 || first.expiration.IsZero() {
				t.Fatalf("first request: %+v", first)
			}
			_ = md.SetFail(imds.Fail500) // the metadata service goes away mid-run
			got := untilError(t, c, a.URL(), 5*time.Second)
			e := checkErrorsBeginAt(t, append([]sample{first}, got...), first.expiration)
			if e.status != 502 || !strings.Contains(e.body, "ExpiredToken") || !strings.Contains(e.body, "failed refresh") ||
				!strings.Contains(e.body, "StatusCode: 500") {
				t.Fatalf("first error: %d %q", e.status, e.body)
			}
			st := a.Stats()
			if st.RefreshFailures != 1 || st.ExpiredCredentials != 1 || st.CredentialErrors != 0 {
				t.Fatalf("stats %+v: the SDK must have swallowed the refresh error", st)
			}

			_ = md.SetFail(imds.FailNone) // the metadata service is back
			after := probe(t, c, a.URL())
			if !invalidate {
				// The SDK holds on to its extension: no new fetch, still expired.
				if after.status != 502 || a.Stats().CredentialFetches != 2 {
					t.Fatalf("after recovery: %d, %d fetches; the pinned SDK should keep the extended credentials", after.status, a.Stats().CredentialFetches)
				}
				return
			}
			if after.status != 200 || !after.expiration.After(first.expiration) {
				t.Fatalf("after recovery with InvalidateExpired: %+v", after)
			}
		})
	}
}

// sdk rule, refresh fails while the credentials are still valid (the cache's
// window asked for a refresh early): the SDK keeps serving the old
// credentials without an error and does not try again for 5-15 minutes.
// The window only applies to credentials with more than 15 minutes left, so
// the IMDS clock is set back to issue credentials with 15m02s left and the
// window is 15m: the cache wants a refresh about 2 s later.
func TestRefreshFailureWhileValid(t *testing.T) {
	t.Parallel()
	back := 4*time.Minute + 58*time.Second
	md := startIMDS(t, imds.Config{TTL: 20 * time.Minute, Now: func() time.Time { return time.Now().Add(-back) }})
	dep := startDependency(t, 0)
	a := startApp(t, Config{IMDSEndpoint: md.URL(), DependencyURL: dep.URL, ExpiryWindow: 15 * time.Minute, IMDSMaxAttempts: 1})
	c := client(t)
	first := probe(t, c, a.URL())
	if first.status != 200 || time.Until(first.expiration) < 15*time.Minute {
		t.Fatalf("first request: %+v", first)
	}
	_ = md.SetFail(imds.Fail500)
	deadline := time.Now().Add(5 * time.Second)
	for a.Stats().RefreshFailures == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the cache never tried to refresh")
		}
		if s := probe(t, c, a.URL()); s.status != 200 {
			t.Fatalf("while valid: %d %s", s.status, s.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i := 0; i < 5; i++ {
		if s := probe(t, c, a.URL()); s.status != 200 || !s.expiration.Equal(first.expiration) {
			t.Fatalf("after the failed refresh: %d %s (want the old, still valid credentials)", s.status, s.body)
		}
	}
	if st := a.Stats(); st.RefreshFailures != 1 || st.CredentialFetches != 2 || st.CredentialErrors != 0 {
		t.Fatalf("stats %+v: want one failed refresh and no retry (extended 5-15 min)", st)
	}
}

// java-v1 with a scaled window (3 s credentials, 1 s threshold): inside the
// window every request tries a refresh; failures are hidden while the old
// credentials are valid, and requests fail from expiry on.
func TestJavaV1ErrorsAtExpiry(t *testing.T) {
	t.Parallel()
	md := startIMDS(t, imds.Config{TTL: 3 * time.Second})
	dep := startDependency(t, 0)
	a := startApp(t, Config{IMDSEndpoint: md.URL(), DependencyURL: dep.URL, Rule: RuleJavaV1,
		ExpiryWindow: time.Second, IMDSMaxAttempts: 1})
	c := client(t)
	first := probe(t, c, a.URL())
	_ = md.SetFail(imds.Fail500)
	got := untilError(t, c, a.URL(), 6*time.Second)
	e := checkErrorsBeginAt(t, append([]sample{first}, got...), first.expiration)
	if e.status != 502 || !strings.Contains(e.body, "Unable to load credentials from service endpoint") {
		t.Fatalf("first error: %d %q", e.status, e.body)
	}
	if st := a.Stats(); st.RefreshFailures < 2 {
		t.Fatalf("stats %+v: java-v1 should have retried on every request inside the window", st)
	}
}

// botocore with scaled windows (4 s credentials, advisory 2 s, mandatory
// 1 s): failures surface when the mandatory window opens, one second before
// expiry, not at it.
func TestBotocoreErrorsAtMandatoryWindow(t *testing.T) {
	t.Parallel()
	md := startIMDS(t, imds.Config{TTL: 4 * time.Second})
	dep := startDependency(t, 0)
	a := startApp(t, Config{IMDSEndpoint: md.URL(), DependencyURL: dep.URL, Rule: RuleBotocore,
		ExpiryWindow: 2 * time.Second, MandatoryWindow: time.Second, IMDSMaxAttempts: 1})
	c := client(t)
	first := probe(t, c, a.URL())
	_ = md.SetFail(imds.Fail500)
	got := untilError(t, c, a.URL(), 6*time.Second)
	e := checkErrorsBeginAt(t, append([]sample{first}, got...), first.expiration.Add(-time.Second))
	if !e.sent.Before(first.expiration) {
		t.Fatalf("first error asked for at %s, not before expiry %s", e.sent, first.expiration)
	}
	if e.status != 502 || !strings.Contains(e.body, "mandatory refresh period") {
		t.Fatalf("first error: %d %q", e.status, e.body)
	}
}
