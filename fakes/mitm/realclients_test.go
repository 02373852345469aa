package mitm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chaoslab/chaoslab/fakes/pki"
)

// run executes a real client under a timeout, without the environment's
// proxy settings (NO_PROXY would make curl skip our proxy for localhost).
func run(t *testing.T, name string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !strings.HasSuffix(strings.ToLower(k), "_proxy") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Stdin = strings.NewReader("") // s_client waits on stdin otherwise
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s %v timed out:\n%s", name, args, out)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return string(out), 0
}

func need(t *testing.T, tool, debianPackage string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		t.Skipf("%s not on PATH: apt-get install %s", tool, debianPackage)
	}
}

func TestRealCurlThroughInspectingProxy(t *testing.T) {
	need(t, "curl", "curl")
	srv, lab := labServer(t, pki.ServerTLSFlags{})
	p := startProxy(t, Config{UpstreamRoots: lab.ClientRoots})
	url := fmt.Sprintf("https://localhost:%s/", srv.Listener.Addr().String()[strings.LastIndex(srv.Listener.Addr().String(), ":")+1:])

	// The incident: curl trusts the real server's CA, the proxy re-signs.
	out, code := run(t, "curl", "-sS", "--proxy", p.URL(), "--cacert", lab.CAPath, url)
	if code != 60 || !strings.Contains(out, "unable to get local issuer certificate") {
		t.Fatalf("curl without the proxy CA: want exit 60 (unable to get local issuer certificate), got %d:\n%s", code, out)
	}
	waitLog(t, p, "curl rejecting the proxy CA", func(l ConnLog) bool {
		return strings.HasPrefix(l.ClientHandshake, "remote error: tls: unknown certificate authority")
	})
	// The fix: trust the proxy's root.
	out, code = run(t, "curl", "-sS", "--proxy", p.URL(), "--cacert", p.CAPath(), url)
	if code != 0 || !strings.HasPrefix(out, "origin says hi|absent") {
		t.Fatalf("curl with --cacert <proxy ca>: want exit 0, got %d:\n%s", code, out)
	}
	// And plain http:// goes through the same proxy.
	plain := startPlainOrigin(t)
	out, code = run(t, "curl", "-sS", "--proxy", p.URL(), plain)
	if code != 0 || out != "plain hello" {
		t.Fatalf("plain http through the proxy: %d %q", code, out)
	}
}

func TestRealOpenSSLShowsTheIssuer(t *testing.T) {
	need(t, "openssl", "openssl")
	srv, lab := labServer(t, pki.ServerTLSFlags{})
	target := srv.Listener.Addr().String()
	inspect := startProxy(t, Config{UpstreamRoots: lab.ClientRoots})
	tunnel := startProxy(t, Config{Mode: Tunnel})

	showcerts := func(p *Proxy) string {
		out, code := run(t, "openssl", "s_client", "-proxy", p.Addr(), "-connect", target, "-servername", "localhost", "-showcerts")
		if code != 0 {
			t.Fatalf("s_client exit %d:\n%s", code, out)
		}
		return out
	}
	out := showcerts(inspect)
	if !strings.Contains(out, "i:O = chaoslab, CN = chaoslab mitm root CA") {
		t.Fatalf("through the inspecting proxy the issuer should be the proxy CA:\n%s", out)
	}
	if !strings.Contains(out, "verify error:num=20:unable to get local issuer certificate") {
		t.Fatalf("want verify error 20:\n%s", out)
	}
	out = showcerts(tunnel)
	if !strings.Contains(out, "i:O = chaoslab, CN = chaoslab lab intermediate CA") || strings.Contains(out, "mitm root CA") {
		t.Fatalf("through the tunnel the issuer should be the server's own:\n%s", out)
	}
}

func startPlainOrigin(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("plain hello"))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/"
}
