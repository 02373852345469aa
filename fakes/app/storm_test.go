package app

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chaoslab/chaoslab/fakes/imds"
)

// TestRefreshStormByRule measures, with the pinned SDK, which refresh rules
// make the app fetch credentials on every request. Counted at the fake IMDS
// (credential documents handed out), not assumed. The findings are in the
// package doc.
func TestRefreshStormByRule(t *testing.T) {
	const requests = 20
	cases := []struct {
		name   string
		ttl    time.Duration
		rule   Rule
		window time.Duration
		want   int64 // credential documents fetched for `requests` requests
	}{
		{"15m sdk window 0 (default)", 15 * time.Minute, RuleSDK, 0, 1},
		{"15m sdk window 15m", 15 * time.Minute, RuleSDK, 15 * time.Minute, 1},
		{"15m sdk window 1h", 15 * time.Minute, RuleSDK, time.Hour, 1},
		{"15m java-v1", 15 * time.Minute, RuleJavaV1, 0, requests},
		{"15m botocore", 15 * time.Minute, RuleBotocore, 0, requests},
		{"20m sdk window 25m", 20 * time.Minute, RuleSDK, 25 * time.Minute, requests},
		{"20m sdk window 15m", 20 * time.Minute, RuleSDK, 15 * time.Minute, 1},
		{"6h sdk window 0", 6 * time.Hour, RuleSDK, 0, 1},
		{"6h sdk window 15m", 6 * time.Hour, RuleSDK, 15 * time.Minute, 1},
		{"6h java-v1", 6 * time.Hour, RuleJavaV1, 0, 1},
		{"6h botocore", 6 * time.Hour, RuleBotocore, 0, 1},
	}
	var table []string
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			md := startIMDS(t, imds.Config{TTL: tc.ttl})
			dep := startDependency(t, 0)
			a := startApp(t, Config{IMDSEndpoint: md.URL(), DependencyURL: dep.URL, Rule: tc.rule, ExpiryWindow: tc.window})
			c := client(t)
			for i := 0; i < requests; i++ {
				if code, _, body := get(t, c, a.URL()); code != 200 {
					t.Fatalf("request %d: %d %s", i, code, body)
				}
			}
			got := md.CredentialFetches()
			roleGets := md.Calls()[imds.CredentialsPath]
			table = append(table, fmt.Sprintf("%-28s %2d fetches, %2d metadata GETs for %d requests", tc.name, got, md.Total()-md.Calls()[imds.TokenPath], requests))
			if got != tc.want || roleGets != got || a.CredentialFetches() != got {
				t.Fatalf("IMDS handed out %d documents (%d role-name GETs, app counted %d), want %d",
					got, roleGets, a.CredentialFetches(), tc.want)
			}
		})
	}
	sort.Strings(table)
	t.Logf("refresh rule measurement (pinned aws-sdk-go-v2):\n%s", strings.Join(table, "\n"))
}

// The storm's cost is what the incident saw: two metadata round trips in
// front of every request. With 20 ms metadata latency the java-v1 rule's
// credential step takes at least 40 ms on every request; the sdk rule's only
// on the first.
func TestStormCostsLatency(t *testing.T) {
	md := startIMDS(t, imds.Config{TTL: 15 * time.Minute, Latency: 20 * time.Millisecond})
	dep := startDependency(t, 0)
	for _, rule := range []Rule{RuleSDK, RuleJavaV1} {
		a := startApp(t, Config{IMDSEndpoint: md.URL(), DependencyURL: dep.URL, Rule: rule})
		c := client(t)
		var slow int
		for i := 0; i < 10; i++ {
			_, h, _ := get(t, c, a.URL())
			if millisHeader(t, h, HeaderCredsDuration) >= 40*time.Millisecond {
				slow++
			}
		}
		switch {
		case rule == RuleSDK && slow != 1:
			t.Errorf("sdk: %d of 10 requests paid the metadata round trips, want only the first", slow)
		case rule == RuleJavaV1 && slow != 10:
			t.Errorf("java-v1: %d of 10 requests paid the metadata round trips, want all", slow)
		}
	}
}

// Java v1 fetches inside a synchronized method: concurrent requests with
// 15-minute credentials queue behind each other's metadata calls, so the
// last of 8 waits for about 8 fetches. That queue, not one fetch, is what
// turns 20 ms into 100-200 ms under load.
func TestJavaV1SerialisesFetches(t *testing.T) {
	const n, latency = 8, 30 * time.Millisecond
	md := startIMDS(t, imds.Config{TTL: 15 * time.Minute, Latency: latency})
	dep := startDependency(t, 0)
	a := startApp(t, Config{IMDSEndpoint: md.URL(), DependencyURL: dep.URL, Rule: RuleJavaV1})
	c := client(t)
	get(t, c, a.URL()) // token and first credentials
	durs := make(chan time.Duration, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Get(a.URL())
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			v, _ := strconv.ParseFloat(resp.Header.Get(HeaderCredsDuration), 64)
			durs <- time.Duration(v * float64(time.Millisecond))
		}()
	}
	wg.Wait()
	close(durs)
	var longest time.Duration
	for d := range durs {
		longest = max(longest, d)
	}
	if got := md.CredentialFetches(); got != n+1 {
		t.Fatalf("%d fetches for %d concurrent requests, want one each", got-1, n)
	}
	// Each fetch is two metadata calls; serialised, the last waits for all.
	if floor := time.Duration(n) * 2 * latency; longest < floor*9/10 {
		t.Fatalf("longest credential wait %s, want about %s (fetches one at a time)", longest, floor)
	}
}
