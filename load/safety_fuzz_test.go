package load

import (
	"context"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzTargetSafety: whatever the URL, checkTarget never lets through a host
// that is not loopback (unless allowed), and never panics. The oracle is
// independent of checkTarget's code: it asks what host net/http would dial.
// Seeds in testdata/fuzz/FuzzTargetSafety: decimal, octal and hex IPs,
// IPv4-mapped IPv6, zones, userinfo tricks, trailing dots, lookalike names.
func FuzzTargetSafety(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw string) {
		c := defaults()
		if err := c.checkTarget(raw); err != nil {
			if !strings.Contains(err.Error(), "target") {
				t.Fatalf("error does not name the target: %v", err)
			}
			return
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("accepted %q which does not parse: %v", raw, err)
		}
		host := u.Hostname()
		if strings.EqualFold(host, "localhost") {
			return
		}
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.Unmap().IsLoopback() {
			t.Fatalf("accepted %q: net/http would dial %q, which is not loopback", raw, host)
		}
	})
}

// The dialer refuses a non-loopback address before connecting, whatever the
// URL said (see internal/loopback): a wrapper that rewrites the host is
// caught at connect time.
func TestRunRefusesARewrittenHost(t *testing.T) {
	rewrite := func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			r.URL.Host = "192.0.2.1:9"
			return rt.RoundTrip(r)
		})
	}
	rs, _ := Run(context.Background(), []Target{{URL: "http://127.0.0.1:9/"}}, Constant(5), 200*time.Millisecond, WithTransport(rewrite))
	if len(rs) == 0 {
		t.Fatal("no results")
	}
	for _, r := range rs {
		if r.Error == "" || !strings.Contains(r.Error, "not loopback") {
			t.Fatalf("want every request refused as not loopback, got %+v", r)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
