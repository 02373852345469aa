package app

import (
	"context"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/chaoslab/chaoslab/fakes"
	"github.com/chaoslab/chaoslab/fakes/dns"
	"github.com/chaoslab/chaoslab/fakes/imds"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func startIMDS(t *testing.T, cfg imds.Config) *imds.Server {
	t.Helper()
	s, err := imds.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// dependency is the "Elasticsearch": it answers status after latency and
// keeps what the app sent.
type dependency struct {
	*httptest.Server
	calls  atomic.Int64
	status atomic.Int64
	mu     sync.Mutex
	auth   string
	token  string
	host   string
}

func startDependency(t *testing.T, latency time.Duration) *dependency {
	t.Helper()
	d := &dependency{}
	d.status.Store(200)
	d.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.calls.Add(1)
		d.mu.Lock()
		d.auth, d.token, d.host = r.Header.Get("Authorization"), r.Header.Get("X-Amz-Security-Token"), r.Host
		d.mu.Unlock()
		time.Sleep(latency)
		w.WriteHeader(int(d.status.Load()))
		_, _ = io.WriteString(w, `{"hits":{"total":0}}`)
	}))
	t.Cleanup(d.Close)
	return d
}

func startApp(t *testing.T, cfg Config) *Server {
	t.Helper()
	s, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// client is one keep-alive client per test, closed at the end.
func client(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func get(t *testing.T, c *http.Client, url string) (int, http.Header, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func millisHeader(t *testing.T, h http.Header, name string) time.Duration {
	t.Helper()
	v, err := strconv.ParseFloat(h.Get(name), 64)
	if err != nil {
		t.Fatalf("%s: %q is not milliseconds", name, h.Get(name))
	}
	return time.Duration(v * float64(time.Millisecond))
}

func TestRequestGetsCredentialsAndCallsDependency(t *testing.T) {
	md := startIMDS(t, imds.Config{IMDSv2Required: true})
	dep := startDependency(t, 20*time.Millisecond)
	a := startApp(t, Config{IMDSEndpoint: md.URL(), DependencyURL: dep.URL + "/_search"})
	c := client(t)
	code, h, body := get(t, c, a.URL()+"/search?q=x")
	if code != 200 || h.Get(HeaderRule) != "sdk" {
		t.Fatalf("got %d %q: %s", code, h.Get(HeaderRule), body)
	}
	if d := millisHeader(t, h, HeaderDependencyDuration); d < 20*time.Millisecond {
		t.Fatalf("dependency took %s by the header, less than its 20ms latency", d)
	}
	millisHeader(t, h, HeaderCredsDuration)
	exp, err := time.Parse(time.RFC3339, h.Get(HeaderCredsExpiration))
	// The service's 6 h, not the SDK's 1 h cap.
	if err != nil || exp.Sub(time.Now().Add(6*time.Hour)).Abs() > 2*time.Second {
		t.Fatalf("expiration header %q, want now+6h", h.Get(HeaderCredsExpiration))
	}
	dep.mu.Lock()
	auth, token := dep.auth, dep.token
	dep.mu.Unlock()
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=ASIA") || !strings.Contains(auth, "/us-east-1/es/aws4_request") || token == "" {
		t.Fatalf("dependency request not signed with the instance credentials: %q token %q", auth, token)
	}
	get(t, c, a.URL()+"/")
	st := a.Stats()
	if st.Requests != 2 || st.OK != 2 || st.CredentialFetches != 1 || md.Calls()[imds.TokenPath] != 1 || dep.calls.Load() != 2 {
		t.Fatalf("stats %+v, imds %v, dependency %d", st, md.Calls(), dep.calls.Load())
	}
	_, _, stats := get(t, c, a.URL()+ControlPrefix+"stats")
	if !strings.Contains(stats, `"credential_fetches":1`) || a.Requests() != 2 {
		t.Fatalf("control stats %s (control calls must not count)", stats)
	}
}

func TestNoCredentialsIs502(t *testing.T) {
	md := startIMDS(t, imds.Config{Fail: imds.Fail500})
	dep := startDependency(t, 0)
	a := startApp(t, Config{IMDSEndpoint: md.URL(), DependencyURL: dep.URL, IMDSMaxAttempts: 1})
	code, _, body := get(t, client(t), a.URL())
	if code != 502 || !strings.HasPrefix(body, "credentials: ") || !strings.Contains(body, "StatusCode: 500") {
		t.Fatalf("got %d %q", code, body)
	}
	if st := a.Stats(); st.CredentialErrors != 1 || st.RefreshFailures != 1 || dep.calls.Load() != 0 {
		t.Fatalf("stats %+v, dependency called %d times", st, dep.calls.Load())
	}
}

func TestDependencyFailureIs502(t *testing.T) {
	md := startIMDS(t, imds.Config{})
	dep := startDependency(t, 0)
	dep.status.Store(503)
	a := startApp(t, Config{IMDSEndpoint: md.URL(), DependencyURL: dep.URL})
	code, h, body := get(t, client(t), a.URL())
	if code != 502 || h.Get(HeaderDependencyStatus) != "503" || !strings.Contains(body, "dependency: answered 503") {
		t.Fatalf("got %d %q %q", code, h.Get(HeaderDependencyStatus), body)
	}
	if st := a.Stats(); st.DependencyErrors != 1 || st.OK != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// With a Resolver the dependency's name is looked up in the lab DNS on every
// request: ndots:5 and three search domains cost 4 names (8 queries) each.
func TestDependencyThroughLabDNS(t *testing.T) {
	md := startIMDS(t, imds.Config{})
	dep := startDependency(t, 0)
	port := dep.URL[strings.LastIndex(dep.URL, ":")+1:]
	ns, err := dns.Start(context.Background(), dns.Config{Records: map[string][]string{"es.example.com": {"127.0.0.1"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ns.Close() })
	r := &dns.Resolver{Server: ns.Addr(), Ndots: 5, Search: []string{"default.svc.cluster.local", "svc.cluster.local", "cluster.local"}}
	a := startApp(t, Config{IMDSEndpoint: md.URL(), DependencyURL: "http://es.example.com:" + port + "/", Resolver: r})
	c := client(t)
	for i := 0; i < 2; i++ {
		code, h, body := get(t, c, a.URL())
		if code != 200 || h.Get(HeaderDNSDuration) == "" {
			t.Fatalf("got %d %q %s", code, h.Get(HeaderDNSDuration), body)
		}
	}
	if ns.Queries() != 16 || r.Lookups() != 8 {
		t.Fatalf("DNS saw %d queries, resolver tried %d names; want 16 and 8 for 2 requests", ns.Queries(), r.Lookups())
	}
	dep.mu.Lock()
	host := dep.host
	dep.mu.Unlock()
	if host != "es.example.com:"+port {
		t.Fatalf("dependency saw Host %q", host)
	}
}

func TestFlagsRoundTripAndRegistration(t *testing.T) {
	in := Config{Listen: "127.0.0.1:0", IMDSEndpoint: "http://127.0.0.1:1", DependencyURL: "http://es.lab:9200/_search",
		Rule: RuleBotocore, ExpiryWindow: 2 * time.Second, MandatoryWindow: time.Second, RecheckAfter: time.Minute,
		IMDSMaxAttempts: 1, InvalidateExpired: true,
		Resolver: &dns.Resolver{Server: "127.0.0.1:53", Search: []string{"a.local", "local"}, Ndots: 5, Timeout: time.Second, IPv4Only: true}}
	var out Config
	fs := flag.NewFlagSet("app", flag.ContinueOnError)
	out.RegisterFlags(fs)
	if err := fs.Parse(in.Args()); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip:\n in %+v %+v\nout %+v %+v", in, in.Resolver, out, out.Resolver)
	}

	md := startIMDS(t, imds.Config{})
	dep := startDependency(t, 0)
	def, ok := fakes.Lookup("app")
	if !ok {
		t.Fatal("app not registered")
	}
	fs = flag.NewFlagSet("app", flag.ContinueOnError)
	startFn := def.Flags(fs)
	if err := fs.Parse([]string{"--imds", md.URL(), "--dependency", dep.URL, "--rule", "java-v1"}); err != nil {
		t.Fatal(err)
	}
	srv, err := startFn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if code, h, _ := get(t, client(t), srv.URL()); code != 200 || h.Get(HeaderRule) != "java-v1" {
		t.Fatalf("started from flags: %d %q", code, h.Get(HeaderRule))
	}
	if info := srv.Info(); !strings.Contains(info["rule"], "refresh within 15m0s of expiry or after 1h0m0s") {
		t.Fatalf("info: %v", info)
	}
}

func TestBadConfig(t *testing.T) {
	good := Config{IMDSEndpoint: "http://127.0.0.1:1", DependencyURL: "http://127.0.0.1:2"}
	cases := map[string]func(*Config){
		"--rule: must be one of sdk|java-v1|botocore": func(c *Config) { c.Rule = "python" },
		"--imds: required":                            func(c *Config) { c.IMDSEndpoint = "" },
		"--dependency: want an http(s) URL":           func(c *Config) { c.DependencyURL = "es:9200" },
		"--expiry-window: must not be negative":       func(c *Config) { c.ExpiryWindow = -time.Second },
		"--imds-max-attempts: must not be negative":   func(c *Config) { c.IMDSMaxAttempts = -1 },
		"--dns-server: required":                      func(c *Config) { c.Resolver = &dns.Resolver{Ndots: 5} },
	}
	for want, mutate := range cases {
		c := good
		mutate(&c)
		if _, err := Start(context.Background(), c); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want %q", err, want)
		}
	}
	var c Config
	fs := flag.NewFlagSet("app", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.RegisterFlags(fs)
	if err := fs.Parse([]string{"--rule", "ruby"}); err == nil {
		t.Error("--rule ruby accepted")
	}
}
