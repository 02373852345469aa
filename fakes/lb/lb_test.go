package lb

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/chaoslab/chaoslab/fakes"
	"github.com/chaoslab/chaoslab/internal/loopback"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// backend records the requests it receives.
type backend struct {
	*httptest.Server
	mu   sync.Mutex
	seen []*http.Request
}

func newBackend(t *testing.T) *backend {
	t.Helper()
	b := &backend{}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.seen = append(b.seen, r.Clone(context.Background()))
		b.mu.Unlock()
		w.Header().Set("X-Backend", "yes")
		_, _ = io.WriteString(w, "backend "+r.URL.Path)
	}))
	t.Cleanup(b.Close)
	return b
}

func (b *backend) last(t *testing.T) *http.Request {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.seen) == 0 {
		t.Fatal("the backend received nothing")
	}
	return b.seen[len(b.seen)-1]
}

func (b *backend) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.seen)
}

func startLB(t *testing.T, cfg Config) *Server {
	t.Helper()
	s, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

var client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}

// send makes one request through the hop; host "" keeps the URL's.
func send(t *testing.T, url, host string, hdr map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestStripAuthorization(t *testing.T) {
	for _, strip := range []bool{true, false} {
		be := newBackend(t)
		s := startLB(t, Config{Backend: be.URL, StripAuthorization: strip})
		code, body := send(t, s.URL()+"/orders", "", map[string]string{"Authorization": "Bearer abc", "X-Other": "1"})
		if code != 200 || body != "backend /orders" {
			t.Fatalf("strip=%t: got %d %q", strip, code, body)
		}
		got := be.last(t)
		if auth := got.Header.Get("Authorization"); (auth == "") != strip {
			t.Errorf("strip=%t: backend received Authorization %q", strip, auth)
		}
		if got.Header.Get("X-Other") != "1" {
			t.Errorf("strip=%t: an unrelated header was lost", strip)
		}
		want := Stats{Requests: 1, AuthorizationSeen: 1}
		if strip {
			want.AuthorizationStripped = 1
		}
		if st := s.Stats(); st != want {
			t.Errorf("strip=%t: stats %+v, want %+v", strip, st, want)
		}
	}
}

func TestForwardedHeaders(t *testing.T) {
	const prior = "203.0.113.7"
	cases := []struct {
		xff, xfp             string
		clientXFF, clientXFP string
		wantXFF, wantXFP     string // "" means absent
	}{
		{XFFAppend, "", prior, "", prior + ", 127.0.0.1", ""},
		{"", "", "", "", "127.0.0.1", ""}, // the default is append
		{XFFOverwrite, XFPHTTPS, prior, "http", "127.0.0.1", "https"},
		{XFFNone, XFPNone, prior, "http", prior, "http"},
		// Go's ReverseProxy adds X-Forwarded-For itself when driven by a
		// Director; with mode none nothing may appear.
		{XFFNone, "", "", "", "", ""},
		{XFFAppend, XFPHTTP, "", "https", "127.0.0.1", "http"},
	}
	for _, c := range cases {
		be := newBackend(t)
		s := startLB(t, Config{Backend: be.URL, XFF: c.xff, XFP: c.xfp})
		hdr := map[string]string{}
		if c.clientXFF != "" {
			hdr["X-Forwarded-For"] = c.clientXFF
		}
		if c.clientXFP != "" {
			hdr["X-Forwarded-Proto"] = c.clientXFP
		}
		send(t, s.URL()+"/", "", hdr)
		got := be.last(t)
		if v := strings.Join(got.Header.Values("X-Forwarded-For"), "|"); v != c.wantXFF {
			t.Errorf("xff=%q client %q: backend got X-Forwarded-For %q, want %q", c.xff, c.clientXFF, v, c.wantXFF)
		}
		if v := strings.Join(got.Header.Values("X-Forwarded-Proto"), "|"); v != c.wantXFP {
			t.Errorf("xfp=%q client %q: backend got X-Forwarded-Proto %q, want %q", c.xfp, c.clientXFP, v, c.wantXFP)
		}
	}
}

func TestHostAndPath(t *testing.T) {
	be := newBackend(t)
	s := startLB(t, Config{Backend: be.URL + "/base"})
	send(t, s.URL()+"/x?q=1", "api.lab", map[string]string{"X-Forwarded-Host": "edge.lab"})
	got := be.last(t)
	if got.Host != "api.lab" || got.URL.Path != "/base/x" || got.URL.RawQuery != "q=1" {
		t.Errorf("pass-through: backend got Host %q path %q query %q", got.Host, got.URL.Path, got.URL.RawQuery)
	}
	if got.Header.Get("X-Forwarded-Host") != "edge.lab" {
		t.Errorf("X-Forwarded-Host from the client was not passed through: %q", got.Header.Get("X-Forwarded-Host"))
	}

	s2 := startLB(t, Config{Backend: be.URL, Host: "kong.internal"})
	send(t, s2.URL()+"/", "api.lab", nil)
	if got := be.last(t); got.Host != "kong.internal" {
		t.Errorf("rewrite: backend got Host %q, want kong.internal", got.Host)
	}
}

func TestControlAPIChangesPolicy(t *testing.T) {
	be := newBackend(t)
	s := startLB(t, Config{Backend: be.URL, StripAuthorization: true})
	c := &Client{Base: s.URL(), HTTP: client}
	ctx := context.Background()
	auth := map[string]string{"Authorization": "Bearer abc"}

	send(t, s.URL()+"/", "", auth)
	if v := be.last(t).Header.Get("Authorization"); v != "" {
		t.Fatalf("fault: backend received Authorization %q", v)
	}
	st, err := c.PreserveAuthorization(ctx)
	if err != nil || st.StripAuthorization || st.XFF != XFFAppend {
		t.Fatalf("fix: %+v %v", st, err)
	}
	send(t, s.URL()+"/", "", auth)
	if v := be.last(t).Header.Get("Authorization"); v != "Bearer abc" {
		t.Fatalf("after the fix the backend received Authorization %q", v)
	}
	host, xff := "svc.lab", XFFOverwrite
	if _, err := c.Apply(ctx, Settings{Host: &host, XFF: &xff}); err != nil {
		t.Fatal(err)
	}
	send(t, s.URL()+"/", "", map[string]string{"X-Forwarded-For": "198.51.100.1"})
	if got := be.last(t); got.Host != "svc.lab" || got.Header.Get("X-Forwarded-For") != "127.0.0.1" {
		t.Fatalf("after PUT host/xff: Host %q XFF %q", got.Host, got.Header.Get("X-Forwarded-For"))
	}

	bad := "sideways"
	if _, err := c.Apply(ctx, Settings{XFF: &bad}); err == nil || !strings.Contains(err.Error(), "--xff: must be append, overwrite or none") {
		t.Fatalf("bad xff accepted: %v", err)
	}
	resp, err := client.Post(s.URL()+ControlPath, "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST control: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPut, s.URL()+ControlPath, strings.NewReader(`{"strip":true}`))
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("unknown field: %d", resp.StatusCode)
	}

	st, err = c.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{Requests: 3, AuthorizationSeen: 2, AuthorizationStripped: 1}
	if st.Stats != want || st.Host != "svc.lab" || st.Backend != be.URL {
		t.Fatalf("state %+v, want stats %+v (control calls are not traffic)", st, want)
	}
	if be.count() != 3 {
		t.Fatalf("backend saw %d requests, want 3 (control calls must not be forwarded)", be.count())
	}
}

func TestOtherChaoslabPathsAreForwarded(t *testing.T) {
	be := newBackend(t)
	s := startLB(t, Config{Backend: be.URL})
	// The upstream fake's own control API must stay reachable through the hop.
	if code, body := send(t, s.URL()+"/__chaoslab/behaviour", "", nil); code != 200 || body != "backend /__chaoslab/behaviour" {
		t.Fatalf("got %d %q", code, body)
	}
}

func TestBackendMustBeLoopback(t *testing.T) {
	for raw, want := range map[string]string{
		"":                         "--backend: required",
		"http://example.com:80":    "--backend: only a loopback backend is allowed",
		"http://10.0.0.1:8000":     "--backend: only a loopback backend is allowed",
		"https://127.0.0.1:8443":   "--backend: want http://HOST:PORT",
		"http://127.0.0.1:1/?a=b":  "--backend: want http://HOST:PORT",
		"http://user@127.0.0.1:80": "--backend: want http://HOST:PORT",
	} {
		_, err := Start(context.Background(), Config{Backend: raw})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("backend %q: got %v, want %q", raw, err, want)
		}
	}
	for _, ok := range []string{"http://localhost:1", "http://[::1]:1", "http://127.0.0.2:1"} {
		s, err := Start(context.Background(), Config{Backend: ok})
		if err != nil {
			t.Errorf("backend %q refused: %v", ok, err)
			continue
		}
		_ = s.Close()
	}
}

func TestBadPolicy(t *testing.T) {
	for cfg, want := range map[Config]string{
		{Backend: "http://127.0.0.1:1", XFF: "prepend"}:    "--xff: must be",
		{Backend: "http://127.0.0.1:1", XFP: "ftp"}:        "--xfp: must be",
		{Backend: "http://127.0.0.1:1", Host: "a b"}:       "--host: must be",
		{Backend: "http://127.0.0.1:1", Listen: "nope:-1"}: "--listen",
	} {
		if _, err := Start(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: got %v, want %q", cfg, err, want)
		}
	}
}

func TestBackendDownIs502(t *testing.T) {
	be := newBackend(t)
	var errLog bytes.Buffer
	s, err := Start(fakes.WithOutput(context.Background(), io.Discard, &errLog), Config{Backend: be.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	be.Close()
	code, body := send(t, s.URL()+"/", "", nil)
	if code != http.StatusBadGateway || !strings.Contains(body, "backend unavailable") {
		t.Fatalf("got %d %q", code, body)
	}
	if st := s.Stats(); st.BackendErrors != 1 {
		t.Fatalf("stats %+v", st)
	}
	_ = s.Close()
	if !strings.Contains(errLog.String(), "connection refused") {
		t.Fatalf("error log: %q", errLog.String())
	}
}

func TestAccessLog(t *testing.T) {
	be := newBackend(t)
	var out bytes.Buffer
	s, err := Start(fakes.WithOutput(context.Background(), &out, io.Discard), Config{Backend: be.URL, StripAuthorization: true})
	if err != nil {
		t.Fatal(err)
	}
	send(t, s.URL()+"/a", "", map[string]string{"Authorization": "Basic eDp5"})
	send(t, s.URL()+"/b", "", nil)
	_ = s.Close()
	log := out.String()
	if !strings.Contains(log, `"GET /a HTTP/1.1" 200 authorization=stripped`) ||
		!strings.Contains(log, `"GET /b HTTP/1.1" 200 authorization=absent`) {
		t.Fatalf("access log:\n%s", log)
	}
}

func TestCloseAbortsInFlightAndIsIdempotent(t *testing.T) {
	entered := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done() // held until the hop gives up on it
	}))
	defer hang.Close()
	s, err := Start(context.Background(), Config{Backend: hang.URL})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		resp, err := client.Get(s.URL() + "/")
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	<-entered
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := <-errc; err == nil {
		t.Fatal("the in-flight request was answered after Close")
	}
}

func TestArgsRoundTrip(t *testing.T) {
	for _, in := range []Config{
		{Listen: "127.0.0.1:0", Backend: "http://127.0.0.1:8000"},
		{Listen: "127.0.0.1:9", Backend: "http://localhost:8000/p", StripAuthorization: true,
			Host: "api.lab", XFF: XFFOverwrite, XFP: XFPHTTPS},
	} {
		var out Config
		fs := flag.NewFlagSet("lb", flag.ContinueOnError)
		out.RegisterFlags(fs)
		if err := fs.Parse(in.Args()); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(in, out) {
			t.Fatalf("round trip:\n in %+v\nout %+v", in, out)
		}
	}
}

func TestRegisteredStarter(t *testing.T) {
	def, ok := fakes.Lookup("lb")
	if !ok {
		t.Fatal(`"lb" is not registered`)
	}
	be := newBackend(t)
	fs := flag.NewFlagSet("lb", flag.ContinueOnError)
	start := def.Flags(fs)
	if err := fs.Parse([]string{"--backend", be.URL, "--strip-authorization", "--xff", "none"}); err != nil {
		t.Fatal(err)
	}
	srv, err := start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if !strings.HasPrefix(srv.URL(), "http://127.0.0.1:") || len(srv.Info()) != 3 ||
		srv.Info()["strip-authorization"] != "true" {
		t.Fatalf("url %s info %v", srv.URL(), srv.Info())
	}
	send(t, srv.URL()+"/", "", map[string]string{"Authorization": "Bearer x"})
	if got := be.last(t); got.Header.Get("Authorization") != "" || got.Header.Get("X-Forwarded-For") != "" {
		t.Fatalf("flags not applied: %v", got.Header)
	}
}

// Policy changes while traffic flows: every request sees one whole policy
// (stripped and counted together), and nothing races (go test -race).
func TestPolicyChangesUnderLoad(t *testing.T) {
	be := newBackend(t)
	s := startLB(t, Config{Backend: be.URL})
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				req, _ := http.NewRequest(http.MethodGet, s.URL()+"/", nil)
				req.Header.Set("Authorization", "Bearer x")
				resp, err := hc.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	for i := 0; i < 50; i++ {
		strip := i%2 == 0
		if err := s.Apply(Settings{StripAuthorization: &strip}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	be.mu.Lock()
	without := 0
	for _, r := range be.seen {
		if r.Header.Get("Authorization") == "" {
			without++
		}
	}
	be.mu.Unlock()
	if st := s.Stats(); st.Requests != 100 || st.AuthorizationSeen != 100 || st.AuthorizationStripped != int64(without) {
		t.Fatalf("stats %+v, backend saw %d without Authorization", st, without)
	}
}

// The dialer itself refuses anything off loopback, whatever a name resolved to.
func TestDialerRefusesNonLoopback(t *testing.T) {
	if err := loopback.Control("tcp4", "10.1.2.3:80", nil); err == nil || !strings.Contains(err.Error(), "not loopback") {
		t.Fatalf("10.1.2.3: %v", err)
	}
	for _, a := range []string{"127.0.0.1:80", "[::1]:80"} {
		if err := loopback.Control("tcp", a, nil); err != nil {
			t.Fatalf("%s: %v", a, err)
		}
	}
}
