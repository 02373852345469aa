package imds

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/chaoslab/chaoslab/fakes"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func start(t *testing.T, cfg Config) *Server {
	t.Helper()
	s, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// do sends one request on a fresh connection and returns status, headers and body.
func do(t *testing.T, method, url string, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// clock is a settable Now hook.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestTokenHandshake(t *testing.T) {
	s := start(t, Config{IMDSv2Required: true})
	for _, ttl := range []string{"", "0", "21601", "x"} {
		hdr := map[string]string{}
		if ttl != "" {
			hdr[TokenTTLHeader] = ttl
		}
		if code, _, _ := do(t, "PUT", s.URL()+TokenPath, hdr); code != 400 {
			t.Errorf("PUT token with ttl %q: got %d, want 400", ttl, code)
		}
	}
	if code, _, _ := do(t, "GET", s.URL()+TokenPath, nil); code != 405 {
		t.Errorf("GET token: got %d, want 405", code)
	}
	if code, _, _ := do(t, "PUT", s.URL()+TokenPath, map[string]string{TokenTTLHeader: "60", "X-Forwarded-For": "10.0.0.1"}); code != 403 {
		t.Errorf("proxied PUT token: got %d, want 403", code)
	}
	code, h, tok := do(t, "PUT", s.URL()+TokenPath, map[string]string{TokenTTLHeader: "21600"})
	if code != 200 || tok == "" || h.Get(TokenTTLHeader) != "21600" {
		t.Fatalf("PUT token: %d %q, ttl header %q (must echo 21600)", code, tok, h.Get(TokenTTLHeader))
	}
	if code, _, _ := do(t, "GET", s.URL()+CredentialsPath, nil); code != 401 {
		t.Errorf("v2 required, GET without token: got %d, want 401", code)
	}
	if code, _, _ := do(t, "GET", s.URL()+CredentialsPath, map[string]string{TokenHeader: "forged"}); code != 401 {
		t.Errorf("GET with forged token: got %d, want 401", code)
	}
	code, _, role := do(t, "GET", s.URL()+CredentialsPath, map[string]string{TokenHeader: tok})
	if code != 200 || role != DefaultRole {
		t.Errorf("GET role with token: %d %q", code, role)
	}
	s.SetIMDSv2Required(false)
	if code, _, _ := do(t, "GET", s.URL()+CredentialsPath, nil); code != 200 {
		t.Errorf("v1 allowed, GET without token: got %d, want 200", code)
	}
}

func TestTokenExpiresByClock(t *testing.T) {
	c := &clock{t: time.Now()}
	s := start(t, Config{Now: c.Now})
	_, _, tok := do(t, "PUT", s.URL()+TokenPath, map[string]string{TokenTTLHeader: "60"})
	if code, _, _ := do(t, "GET", s.URL()+CredentialsPath, map[string]string{TokenHeader: tok}); code != 200 {
		t.Fatalf("fresh token: got %d", code)
	}
	c.Add(61 * time.Second)
	if code, _, _ := do(t, "GET", s.URL()+CredentialsPath, map[string]string{TokenHeader: tok}); code != 401 {
		t.Fatalf("expired token: got %d, want 401 even with v1 allowed", code)
	}
}

func TestCredentialsDocument(t *testing.T) {
	c := &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	s := start(t, Config{TTL: 15 * time.Minute, Role: "web", Now: c.Now})
	code, h, body := do(t, "GET", s.URL()+CredentialsPath+"web", nil)
	if code != 200 || h.Get("Content-Type") != "text/plain" {
		t.Fatalf("got %d %q", code, h.Get("Content-Type"))
	}
	// Field order is EC2's; some clients are picky, humans compare by eye.
	order := []string{"Code", "LastUpdated", "Type", "AccessKeyId", "SecretAccessKey", "Token", "Expiration"}
	last := -1
	for _, f := range order {
		i := strings.Index(body, `"`+f+`"`)
		if i <= last {
			t.Fatalf("field %s missing or out of order in %s", f, body)
		}
		last = i
	}
	var d Document
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatal(err)
	}
	if d.Code != "Success" || d.Type != "AWS-HMAC" || d.LastUpdated != "2030-01-02T03:04:05Z" ||
		d.Expiration != "2030-01-02T03:19:05Z" || !strings.HasPrefix(d.AccessKeyID, "ASIA") || len(d.AccessKeyID) != 20 {
		t.Fatalf("document: %+v", d)
	}
	_, _, body2 := do(t, "GET", s.URL()+CredentialsPath+"web", nil)
	var d2 Document
	_ = json.Unmarshal([]byte(body2), &d2)
	if d2.AccessKeyID == d.AccessKeyID || d2.SecretAccessKey == d.SecretAccessKey || d2.Token == d.Token {
		t.Fatal("second fetch returned the same keys; credentials must roll")
	}
	if code, _, _ := do(t, "GET", s.URL()+CredentialsPath+"other", nil); code != 404 {
		t.Errorf("unknown role: got %d, want 404", code)
	}
	if err := s.SetTTL(time.Hour); err != nil {
		t.Fatal(err)
	}
	_, _, body3 := do(t, "GET", s.URL()+CredentialsPath+"web", nil)
	if !strings.Contains(body3, `"Expiration": "2030-01-02T04:04:05Z"`) {
		t.Fatalf("after SetTTL(1h): %s", body3)
	}
	calls := s.Calls()
	if calls[CredentialsPath+"web"] != 3 || calls[CredentialsPath+"other"] != 1 || s.Total() != 4 || s.CredentialFetches() != 3 {
		t.Fatalf("counters: %v total %d issued %d", calls, s.Total(), s.CredentialFetches())
	}
	log := s.Log()
	if len(log) != 4 || log[2].Status != 404 || log[0].Status != 200 || log[0].Time.IsZero() {
		t.Fatalf("log: %+v", log)
	}
}

func TestLatencyAndFailures(t *testing.T) {
	s := start(t, Config{Latency: 200 * time.Millisecond})
	t0 := time.Now()
	if code, _, _ := do(t, "GET", s.URL()+CredentialsPath, nil); code != 200 {
		t.Fatalf("got %d", code)
	}
	if took := time.Since(t0); took < 200*time.Millisecond {
		t.Fatalf("answered after %s, before the 200ms latency", took)
	}
	_ = s.SetLatency(0)
	if err := s.SetFail(Fail500); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := do(t, "PUT", s.URL()+TokenPath, map[string]string{TokenTTLHeader: "60"}); code != 500 {
		t.Fatalf("fail=500 token: got %d", code)
	}
	if err := s.SetFail("boom"); err == nil || !strings.Contains(err.Error(), "none|500|hang") {
		t.Fatalf("bad mode: %v", err)
	}
}

func TestHangUntilClientGivesUp(t *testing.T) {
	s := start(t, Config{Fail: FailHang})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL()+CredentialsPath, nil)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	_, err := (&http.Client{Transport: tr}).Do(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hang: got %v, want the client's deadline", err)
	}
	if l := s.Log(); len(l) != 1 || l[0].Status != 0 {
		t.Fatalf("log: %+v (a hung call has status 0)", l)
	}
}

func TestHangEndsOnClose(t *testing.T) {
	s, err := Start(context.Background(), Config{Fail: FailHang})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	go func() {
		resp, err := (&http.Client{Transport: tr}).Get(s.URL() + CredentialsPath)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	for s.Total() == 0 { // the request reached the handler
		time.Sleep(time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err == nil {
		t.Fatal("a hung request was answered")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestControlAPI(t *testing.T) {
	s := start(t, Config{})
	c := &Client{Base: s.URL()}
	ctx := context.Background()
	yes := true
	st, err := c.Apply(ctx, Settings{TTL: "15m", Latency: "5ms", Fail: Fail500, IMDSv2Required: &yes})
	if err != nil {
		t.Fatal(err)
	}
	if st.TTL != "15m0s" || st.Latency != "5ms" || st.Fail != Fail500 || !st.IMDSv2Required {
		t.Fatalf("state after PUT: %+v", st)
	}
	if code, _, _ := do(t, "GET", s.URL()+CredentialsPath, nil); code != 500 {
		t.Fatalf("after fail=500: %d", code)
	}
	// A partial PUT leaves the rest alone.
	if st, err = c.Apply(ctx, Settings{Fail: FailNone}); err != nil || st.TTL != "15m0s" || st.Latency != "5ms" {
		t.Fatalf("partial PUT: %+v %v", st, err)
	}
	for _, bad := range []Settings{{TTL: "1ms"}, {Latency: "-1s"}, {Fail: "explode"}, {TTL: "soon"}} {
		if _, err := c.Apply(ctx, bad); err == nil || !strings.Contains(err.Error(), "400") {
			t.Errorf("%+v accepted: %v", bad, err)
		}
	}
	if code, _, _ := do(t, "PUT", s.URL()+ControlPath, nil); code != 400 {
		t.Errorf("empty body: %d", code)
	}
	st, err = c.State(ctx)
	if err != nil || st.Total != 1 || st.Calls[CredentialsPath] != 1 || s.Total() != 1 {
		t.Fatalf("control calls must not count: %+v %v", st, err)
	}
}

func TestArgsRoundTrip(t *testing.T) {
	in := Config{Listen: "127.0.0.1:0", TTL: 15 * time.Minute, Latency: 40 * time.Millisecond,
		Role: "kiam-role", IMDSv2Required: true, Fail: FailHang}
	var out Config
	fs := flag.NewFlagSet("imds", flag.ContinueOnError)
	out.RegisterFlags(fs)
	if err := fs.Parse(in.Args()); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip:\n in %+v\nout %+v", in, out)
	}
}

func TestBadConfig(t *testing.T) {
	var c Config
	fs := flag.NewFlagSet("imds", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.RegisterFlags(fs)
	if err := fs.Parse([]string{"--fail", "sometimes"}); err == nil {
		t.Error("--fail sometimes accepted")
	}
	for cfg, want := range map[*Config]string{
		{TTL: -time.Second}:              "--ttl: must be at least 1s",
		{TTL: 500 * time.Millisecond}:    "--ttl: must be at least 1s",
		{Latency: -3 * time.Millisecond}: "--latency: must not be negative, got -3ms",
		{Role: "a/b"}:                    "--role:",
	} {
		if _, err := Start(context.Background(), *cfg); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: got %v, want %q", *cfg, err, want)
		}
	}
}

func TestRegisteredDefStarts(t *testing.T) {
	def, ok := fakes.Lookup("imds")
	if !ok {
		t.Fatal("imds not registered")
	}
	fs := flag.NewFlagSet("imds", flag.ContinueOnError)
	startFn := def.Flags(fs)
	if err := fs.Parse([]string{"--ttl", "15m", "--role", "kiam", "--imdsv2-required"}); err != nil {
		t.Fatal(err)
	}
	srv, err := startFn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if code, _, _ := do(t, "GET", srv.URL()+CredentialsPath, nil); code != 401 {
		t.Fatalf("--imdsv2-required: GET without token got %d", code)
	}
	if info := srv.Info(); info["role"] != "kiam" || info["ttl"] != "15m0s" {
		t.Fatalf("info: %v", info)
	}
}
