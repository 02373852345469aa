package docker

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chaoslab/chaoslab/fakes/upstream"

	"github.com/chaoslab/chaoslab/lab"

	"go.uber.org/goleak"
)

// No goroutine of a lab on this backend may outlive it.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newDockerLab starts a lab on the docker backend, or skips the test with
// the one-line reason when no daemon answers.
func newDockerLab(t *testing.T) *lab.Lab {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	l, err := lab.New(ctx, lab.WithBackend(Name), lab.WithDir(t.TempDir()))
	if errors.Is(err, ErrUnavailable) {
		t.Skip(ErrUnavailable.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		assertNoContainers(t, runID(l))
	})
	return l
}

func runID(l *lab.Lab) string { return l.Backend().(interface{ RunID() string }).RunID() }

// dockerPS lists the containers (any state) of a run, by label, with the
// docker CLI: the same view a user has.
func dockerPS(t *testing.T, run string) []string {
	t.Helper()
	out, err := exec.Command("docker", "ps", "-a", "--filter", "label="+dockerLabelRun+"="+run, "--format", "{{.Names}}").CombinedOutput()
	if err != nil {
		t.Fatalf("docker ps: %v: %s", err, out)
	}
	return strings.Fields(string(out))
}

func assertNoContainers(t *testing.T, run string) {
	t.Helper()
	if left := dockerPS(t, run); len(left) > 0 {
		t.Errorf("containers of run %s left after Close: %v", run, left)
	}
	out, _ := exec.Command("docker", "network", "ls", "--filter", "label="+dockerLabelRun+"="+run, "--format", "{{.Name}}").CombinedOutput()
	if n := strings.Fields(string(out)); len(n) > 0 {
		t.Errorf("networks of run %s left after Close: %v", run, n)
	}
}

func get(t *testing.T, url string) (int, string, time.Duration) {
	t.Helper()
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	start := time.Now()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), time.Since(start)
}

// The docker backend runs a real topology: an upstream container behind a
// real toxiproxy container, a latency fault realised and removed, logs from
// the container, and nothing left after Close.
func TestDockerUpstreamFaultProxyLatency(t *testing.T) {
	ctx := context.Background()
	l := newDockerLab(t)
	up, err := l.Upstream(ctx, "api", upstream.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(up.DirectURL(), "http://127.0.0.1:") || !strings.HasPrefix(up.Proxy.Addr(), "127.0.0.1:") {
		t.Fatalf("addresses must be on loopback: upstream %s, proxy %s", up.DirectURL(), up.Proxy.Addr())
	}
	if len(dockerPS(t, runID(l))) != 2 {
		t.Fatalf("expected an upstream and a toxiproxy container, got %v", dockerPS(t, runID(l)))
	}
	code, _, base := get(t, up.URL()+"/")
	if code != 200 {
		t.Fatalf("through the proxy: %d", code)
	}
	a, err := up.Proxy.Apply(ctx, lab.Latency{Latency: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, slow := get(t, up.URL()+"/"); slow < 250*time.Millisecond {
		t.Fatalf("latency fault not seen by a client: %s (baseline %s)", slow, base)
	}
	if err := up.Proxy.Remove(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, _, fast := get(t, up.URL()+"/"); fast > 250*time.Millisecond {
		t.Fatalf("latency fault still there after Remove: %s", fast)
	}
	if out := up.Fake.Stdout(); len(out) == 0 || !strings.HasPrefix(out[0], "listening on http://127.0.0.1:") {
		t.Fatalf("container stdout: %q", out)
	}
}

// The gateway runs in a container (the emulation from the chaoslab image
// here, real Kong where its image is present) and proxies to an upstream
// through its fault proxy; a reload goes through the admin API.
func TestDockerGatewayProxiesToUpstream(t *testing.T) {
	ctx := context.Background()
	l := newDockerLab(t)
	up, err := l.Upstream(ctx, "orders", upstream.Config{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := "_format_version: \"3.0\"\nservices:\n- name: orders\n  url: http://" + up.Addr() + "\n  routes:\n  - name: orders\n    paths: [/orders]\n"
	g, err := l.Gateway(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if want := KindEmulationNoKong; !l.Backend().Has(lab.CapRealKong) && g.Kind() != want {
		t.Fatalf("kind %q, want %q", g.Kind(), want)
	}
	if !strings.HasPrefix(g.ProxyURL(), "http://127.0.0.1:") || !strings.HasPrefix(g.AdminURL(), "http://127.0.0.1:") {
		t.Fatalf("gateway not on loopback: proxy %s admin %s", g.ProxyURL(), g.AdminURL())
	}
	if code, body, _ := get(t, g.ProxyURL()+"/orders"); code != 200 {
		t.Fatalf("GET /orders through the gateway: %d %s", code, body)
	}
	if code, body, _ := get(t, g.ProxyURL()+"/nope"); code != 404 || !strings.Contains(body, "no Route matched with those values") {
		t.Fatalf("GET /nope: %d %s", code, body)
	}
	if err := g.Reload(ctx, strings.ReplaceAll(cfg, "/orders]", "/v2/orders]")); err != nil {
		t.Fatal(err)
	}
	// Real Kong answers 201 before its worker has rebuilt the router (see
	// docs/real-kong-differences.md): wait, bounded, for the new route.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		code, _, _ := get(t, g.ProxyURL()+"/v2/orders")
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("5 s after reload: %d", code)
		}
	}
	waitAccessLog(t, g)
}

// The real-Kong path, end to end, with a stand-in image (testdata/kongshim:
// the emulation configured from Kong's KONG_* environment) because kong:3.9
// cannot be pulled here: the backend must pick the image when present, run
// it DB-less with the config mounted, wait for /status, and report the image
// as the gateway kind.
func TestDockerKongImagePathWithStandIn(t *testing.T) {
	ctx := context.Background()
	cli, err := dockerClient(ctx)
	if err != nil {
		t.Skip(ErrUnavailable.Error())
	}
	defer cli.Close()
	ref, err := ensureImage(ctx, cli, imageRecipe{repo: "chaoslab-kongshim", pkg: "./lab/testdata/kongshim", binName: "kongshim"}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("CHAOSLAB_KONG_IMAGE", ref)
	l := newDockerLab(t)
	if !l.Backend().Has(lab.CapRealKong) {
		t.Fatalf("image %s is present: CapRealKong must be true", ref)
	}
	up, err := l.Upstream(ctx, "orders", upstream.Config{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := "_format_version: \"3.0\"\nservices:\n- name: orders\n  url: http://" + up.Addr() + "\n  routes:\n  - name: orders\n    paths: [/orders]\n"
	g, err := l.Gateway(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if g.Kind() != ref {
		t.Fatalf("kind %q, want the image %q", g.Kind(), ref)
	}
	if code, body, _ := get(t, g.ProxyURL()+"/orders"); code != 200 {
		t.Fatalf("GET /orders through the Kong container: %d %s", code, body)
	}
	if code, _, _ := get(t, g.AdminURL()+"/status"); code != 200 {
		t.Fatalf("admin /status: %d", code)
	}
	waitAccessLog(t, g)
}

// waitAccessLog waits (bounded) for the gateway's first access-log line: a
// container's log stream arrives asynchronously, after the response.
func waitAccessLog(t *testing.T, g *lab.Gateway) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); len(g.AccessLog()) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no access log from the gateway container's stdout within 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
