package kong

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chaoslab/chaoslab/internal/redisproc"
	"github.com/chaoslab/chaoslab/internal/resp"
)

// Two gateways on one real Redis (policy redis) share one counter per
// window under Kong's key; a refused request counts too; with Redis gone a
// fault-tolerant limit lets traffic through and logs Kong's line.
func TestRateLimitingRedisSharedCounter(t *testing.T) {
	if _, err := redisproc.Binary(); err != nil {
		t.Skip(err.Error())
	}
	if s := time.Now().Second(); s >= 57 { // one minute window for the whole test
		time.Sleep(time.Duration(61-s) * time.Second)
	}
	ctx := context.Background()
	r, err := redisproc.Start(ctx, filepath.Join(t.TempDir(), "redis"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	host, port, _ := strings.Cut(r.Addr, ":")
	up := echoUpstream(t)
	cfg := pluginConfig(up.URL, `- name: rate-limiting
  config:
    minute: 5
    policy: redis
    redis: {host: `+host+`, port: `+port+`}`, "  []")
	a, b := startGateway(t, cfg), startGateway(t, cfg)
	for i, g := range []*Gateway{a, b, a, b, a} {
		res := get(t, g.ProxyURL()+"/api")
		if res.status != 200 || res.header.Get("X-RateLimit-Remaining-Minute") != strconv.Itoa(4-i) {
			t.Fatalf("request %d: %d remaining %q", i+1, res.status, res.header.Get("X-RateLimit-Remaining-Minute"))
		}
	}
	if res := get(t, b.ProxyURL()+"/api"); res.status != 429 {
		t.Fatalf("6th request on the other node: %d, want 429", res.status)
	}
	c, err := resp.Dial(ctx, r.Addr, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	keys, err := c.Do("KEYS", "ratelimit:*")
	if err != nil {
		t.Fatal(err)
	}
	list, _ := keys.([]any)
	if len(list) != 1 {
		t.Fatalf("keys %v, want one counter", keys)
	}
	key := list[0].(string)
	route := a.current().Routes[1].ID
	win := time.Now().UTC().Truncate(time.Minute).UnixMilli()
	if want := "ratelimit:" + route + ":" + emptyUUID + ":127.0.0.1:" + strconv.FormatInt(win, 10) + ":minute"; key != want {
		t.Errorf("key %q, want %q", key, want)
	}
	if v, _ := c.Do("GET", key); v != "6" {
		t.Errorf("counter %v, want 6 (the refused request counts)", v)
	}
	if ttl, _ := c.Do("TTL", key); ttl.(int64) <= 0 || ttl.(int64) > 60 {
		t.Errorf("TTL %v", ttl)
	}
	_ = r.Close()
	res := get(t, a.ProxyURL()+"/api")
	if res.status != 200 || res.header.Get("X-RateLimit-Limit-Minute") != "" {
		t.Errorf("Redis down, fault tolerant: %d %v", res.status, res.header)
	}
	if l := strings.Join(a.errorLines(), "\n"); !strings.Contains(l, "[rate-limiting] failed to get usage: connection refused") {
		t.Errorf("error log: %s", l)
	}
}
