package kong

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// switchableUpstream answers its name, or 500 everywhere while broken.
func switchableUpstream(t *testing.T, name string) (*httptest.Server, *atomic.Bool) {
	var broken atomic.Bool
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if broken.Load() {
			w.WriteHeader(500)
			return
		}
		fmt.Fprint(w, name)
	}))
	t.Cleanup(s.Close)
	return s, &broken
}

func addr(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }

func healthOf(t *testing.T, g *Gateway, upstream string) map[string]string {
	t.Helper()
	res := get(t, g.AdminURL()+"/upstreams/"+upstream+"/health")
	var body struct {
		Data []struct {
			Target string `json:"target"`
			Health string `json:"health"`
		} `json:"data"`
		Total int `json:"total"`
	}
	if err := json.Unmarshal([]byte(res.body), &body); err != nil || res.status != 200 {
		t.Fatalf("health: %d %s", res.status, res.body)
	}
	out := map[string]string{}
	for _, d := range body.Data {
		out[d.Target] = d.Health
	}
	return out
}

// waitFor polls cond (a real check, not a sleep) for up to 5s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestActiveHealthChecks(t *testing.T) {
	a, aBroken := switchableUpstream(t, "a")
	b, bBroken := switchableUpstream(t, "b")
	g := startGateway(t, `_format_version: "3.0"
upstreams:
- name: pool
  healthchecks:
    active:
      http_path: /health
      timeout: 0.2
      healthy: {interval: 0.02, successes: 2}
      unhealthy: {interval: 0.02, http_failures: 2, tcp_failures: 1, timeouts: 1}
  targets:
  - target: `+addr(a)+`
  - target: `+addr(b)+`
services:
- name: svc
  host: pool
  retries: 0
  routes:
  - paths: ["/"]
`)
	if h := healthOf(t, g, "pool"); h[addr(a)] != "HEALTHY" || h[addr(b)] != "HEALTHY" {
		t.Fatalf("initial health %v", h)
	}
	aBroken.Store(true)
	waitFor(t, "a unhealthy", func() bool { return healthOf(t, g, "pool")[addr(a)] == "UNHEALTHY" })
	for i := 0; i < 10; i++ {
		if res := get(t, g.ProxyURL()+"/x"); res.status != 200 || res.body != "b" {
			t.Fatalf("with a unhealthy got %d %q", res.status, res.body)
		}
	}
	bBroken.Store(true)
	waitFor(t, "b unhealthy", func() bool { return healthOf(t, g, "pool")[addr(b)] == "UNHEALTHY" })
	res := get(t, g.ProxyURL()+"/x")
	want := "{\n  \"message\":\"failure to get a peer from the ring-balancer\",\n  \"request_id\":\"" + res.header.Get("X-Kong-Request-Id") + "\"\n}"
	if res.status != 503 || res.body != want || res.header.Get("X-Kong-Response-Latency") == "" {
		t.Fatalf("all unhealthy: %d %q %v", res.status, res.body, res.header)
	}
	// Active checks bring a target back.
	aBroken.Store(false)
	waitFor(t, "a healthy again", func() bool { return healthOf(t, g, "pool")[addr(a)] == "HEALTHY" })
	if res := get(t, g.ProxyURL()+"/x"); res.status != 200 || res.body != "a" {
		t.Fatalf("after recovery %d %q", res.status, res.body)
	}
}

func TestPassiveHealthChecksNeverRecoverAlone(t *testing.T) {
	a, aBroken := switchableUpstream(t, "a")
	b, _ := switchableUpstream(t, "b")
	g := startGateway(t, `_format_version: "3.0"
upstreams:
- name: pool
  healthchecks:
    passive:
      unhealthy: {http_statuses: [500], http_failures: 2}
  targets:
  - target: `+addr(a)+`
  - target: `+addr(b)+`
services:
- name: svc
  host: pool
  retries: 0
  routes:
  - paths: ["/"]
`)
	aBroken.Store(true)
	fails := 0
	for i := 0; i < 10; i++ {
		if get(t, g.ProxyURL()+"/x").status == 500 {
			fails++
		}
	}
	if fails != 2 {
		t.Errorf("%d failures reached the client, want 2 (then a is ejected)", fails)
	}
	if h := healthOf(t, g, "pool"); h[addr(a)] != "UNHEALTHY" || h[addr(b)] != "HEALTHY" {
		t.Fatalf("health %v", h)
	}
	aBroken.Store(false)
	for i := 0; i < 10; i++ {
		if res := get(t, g.ProxyURL()+"/x"); res.body != "b" {
			t.Fatalf("passive-only ejection must not recover by itself, got %q", res.body)
		}
	}
}

func TestWeightedRoundRobinAndHealthchecksOff(t *testing.T) {
	a, _ := switchableUpstream(t, "a")
	b, _ := switchableUpstream(t, "b")
	g := startGateway(t, `_format_version: "3.0"
upstreams:
- name: pool
  targets:
  - {target: `+addr(a)+`, weight: 300}
  - {target: `+addr(b)+`, weight: 100}
services:
- name: svc
  host: pool
  routes:
  - paths: ["/"]
`)
	n := map[string]int{}
	for i := 0; i < 40; i++ {
		n[get(t, g.ProxyURL()+"/").body]++
	}
	if n["a"] != 30 || n["b"] != 10 {
		t.Errorf("distribution %v, want a:30 b:10", n)
	}
	if h := healthOf(t, g, "pool"); h[addr(a)] != "HEALTHCHECKS_OFF" {
		t.Errorf("health %v", h)
	}
	if res := get(t, g.AdminURL()+"/upstreams/nope/health"); res.status != 404 {
		t.Errorf("unknown upstream: %d", res.status)
	}
	res := get(t, g.AdminURL()+"/upstreams/pool/health?balancer_health=1")
	if !strings.Contains(res.body, `"health":"HEALTHCHECKS_OFF"`) {
		t.Errorf("balancer health %s", res.body)
	}
}

func TestHealthThreshold(t *testing.T) {
	a, aBroken := switchableUpstream(t, "a")
	b, _ := switchableUpstream(t, "b")
	g := startGateway(t, `_format_version: "3.0"
upstreams:
- name: pool
  healthchecks:
    threshold: 75
    passive:
      unhealthy: {http_statuses: [500], http_failures: 1}
  targets:
  - target: `+addr(a)+`
  - target: `+addr(b)+`
services:
- name: svc
  host: pool
  retries: 0
  routes:
  - paths: ["/"]
`)
	aBroken.Store(true)
	for i := 0; i < 2; i++ {
		get(t, g.ProxyURL()+"/")
	}
	// Half the weight is healthy, below the 75% threshold: the upstream is down.
	if res := get(t, g.ProxyURL()+"/"); res.status != 503 || !strings.Contains(res.body, "failure to get a peer from the ring-balancer") {
		t.Errorf("below threshold: %d %q", res.status, res.body)
	}
}
