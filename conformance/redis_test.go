package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chaoslab/chaoslab/lab"
)

// The rate-limiting plugin's redis policy: real Kong 3.9.1 and the
// emulation, on one real Redis with the same kong.yml, count against the
// same counter (same key per identifier and window, same expiry), send the
// same commands on connections opened the same way (Redis's MONITOR), and
// both refuse the request after the limit whichever node the earlier ones
// went through.
func TestRateLimitingRedisAgainstRealKong(t *testing.T) {
	top := newTopology(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rd, err := top.Lab.Redis(ctx)
	if lab.IsRedisNotInstalled(err) {
		t.Skip(err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	const limit = 8
	y := fmt.Sprintf(`_format_version: "3.0"
services:
- name: limited
  url: http://%s
  routes:
  - name: r-limited
    paths: [/limited]
    plugins:
    - name: rate-limiting
      config: {hour: %d, policy: redis, redis: {host: %s, port: %d}}
`, top.Echo.Addr(), limit, rd.Host(), rd.Port())
	kong, err := startAs(ctx, top.Lab, y, "kong", lab.GatewayOptions{})
	if IsNotBuilt(err) {
		t.Skip(NotBuilt)
	}
	if err != nil {
		t.Fatal(err)
	}
	emu, err := startAs(ctx, top.Lab, y, "emulation", lab.GatewayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// One hour window for the whole test.
	if now := time.Now(); now.Truncate(time.Hour).Add(time.Hour).Sub(now) < 30*time.Second {
		time.Sleep(now.Truncate(time.Hour).Add(time.Hour).Sub(now) + time.Second)
	}
	if _, err := rd.Do(ctx, "FLUSHALL"); err != nil {
		t.Fatal(err)
	}
	lines, stop, err := rd.Monitor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()

	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	send := func(g *lab.Gateway) (int, string, string) {
		resp, err := hc.Get(g.ProxyURL() + "/limited")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("X-RateLimit-Remaining-Hour"), string(b)
	}
	nodes := []*lab.Gateway{kong, emu}
	names := []string{"real Kong", "emulation"}
	for i := 0; i < limit; i++ {
		code, rem, body := send(nodes[i%2])
		if code != 200 || rem != strconv.Itoa(limit-1-i) {
			t.Fatalf("request %d via %s: %d remaining %q (want 200, %d): %.200s", i+1, names[i%2], code, rem, limit-1-i, body)
		}
	}
	for i, g := range nodes {
		if code, rem, body := send(g); code != 429 || rem != "0" || !strings.Contains(body, "API rate limit exceeded") {
			t.Errorf("over the limit via %s: %d remaining %q %.200s, want 429", names[i], code, rem, body)
		}
	}

	// One counter, under Kong's key, counting every request (the refused too).
	routeID := adminID(t, ctx, kong, "/routes/r-limited")
	if emuID := adminID(t, ctx, emu, "/routes/r-limited"); emuID != routeID {
		t.Errorf("route id: real Kong %s, emulation %s (Kong derives it from the name)", routeID, emuID)
	}
	counters, err := rd.Counters(ctx, "ratelimit:*")
	if err != nil {
		t.Fatal(err)
	}
	window := time.Now().UTC().Truncate(time.Hour).UnixMilli()
	want := fmt.Sprintf("ratelimit:%s:00000000-0000-0000-0000-000000000000:127.0.0.1:%d:hour", routeID, window)
	if len(counters) != 1 || counters[want] != limit+2 {
		t.Errorf("counters %v, want only %s = %d", counters, want, limit+2)
	}
	if ttl, err := rd.Do(ctx, "TTL", want); err != nil || ttl.(int64) <= 3500 || ttl.(int64) > 3600 {
		t.Errorf("TTL of %s: %v %v, want just under 3600", want, ttl, err)
	}

	// The command streams, per client connection: the same commands with
	// the same keys and arguments (the script body aside), and nothing else
	// (no HELLO, CLIENT SETINFO, SELECT or AUTH here: db 0, no password).
	stop()
	byClient := map[string][]string{}
	monRe := regexp.MustCompile(`^[0-9.]+ \[\d+ ([0-9.:]+)\] (.*)$`)
	for _, l := range lines() {
		m := monRe.FindStringSubmatch(l)
		if m == nil || strings.Contains(m[2], `"FLUSHALL"`) || strings.Contains(m[2], `"KEYS"`) ||
			strings.Contains(m[2], `"GET"`) || strings.Contains(m[2], `"TTL"`) {
			continue // the test's own commands
		}
		byClient[m[1]] = append(byClient[m[1]], normaliseCommand(m[2]))
	}
	if len(byClient) < 2 {
		t.Fatalf("MONITOR saw %d gateway connections, want both gateways': %v", len(byClient), byClient)
	}
	seen := map[string]int{}
	for _, cmds := range byClient {
		for _, c := range cmds {
			seen[c]++
		}
	}
	var kinds []string
	for c, n := range seen {
		kinds = append(kinds, fmt.Sprintf("%s x%d", c, n))
	}
	sort.Strings(kinds)
	// lua-resty-redis sends the command name as the method is called: "eval".
	wantCmd := fmt.Sprintf(`"eval" <script> "1" %q "3600"`, want)
	if len(seen) != 1 || seen[wantCmd] != limit+2 {
		t.Errorf("commands seen: %v; want only %s x%d", kinds, wantCmd, limit+2)
	}
	t.Logf("both gateways sent %s (%d connections)", wantCmd, len(byClient))
}

// normaliseCommand replaces an EVAL's script body (the emulation words the
// same INCR/EXPIRE logic its own way) so the rest can be compared.
func normaliseCommand(c string) string {
	name, rest, ok := strings.Cut(c, " ")
	if !ok || !strings.EqualFold(name, `"EVAL"`) || !strings.HasPrefix(rest, `"`) {
		return c
	}
	// <name> "<script, quoted with \" escapes>" "1" "key" "exp"
	rest = rest[1:]
	for i := 0; i < len(rest); i++ {
		if rest[i] == '\\' {
			i++
			continue
		}
		if rest[i] == '"' {
			return name + ` <script>` + rest[i+1:]
		}
	}
	return c
}

func adminID(t *testing.T, ctx context.Context, g *lab.Gateway, path string) string {
	t.Helper()
	code, b, err := g.Admin(ctx, path)
	if err != nil || code != 200 {
		t.Fatalf("admin %s: %d %v %.200s", path, code, err, b)
	}
	var e struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &e); err != nil || e.ID == "" {
		t.Fatalf("admin %s: no id in %.200s", path, b)
	}
	return e.ID
}
