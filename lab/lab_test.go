package lab

import (
	"bytes"
	"context"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/chaoslab/chaoslab/fakes/mitm"
	"github.com/chaoslab/chaoslab/fakes/pki"
	"github.com/chaoslab/chaoslab/fakes/upstream"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newLab(t *testing.T) *Lab {
	t.Helper()
	l, err := New(context.Background(), WithDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func TestFaultsAreAppliedRealisedAndRemoved(t *testing.T) {
	ctx := context.Background()
	l := newLab(t)
	up, err := l.Upstream(ctx, "api", upstream.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []Fault{
		Latency{Latency: 150 * time.Millisecond},
		ResetPeer{},
		Timeout{},
		Down{},
		Bandwidth{RateKB: 64},
		LimitData{Bytes: 2000},
		SlowClose{Delay: 100 * time.Millisecond},
	} {
		a, err := up.Proxy.Apply(ctx, f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !a.Realised || a.Measured == "" {
			t.Fatalf("%s: %+v", f, a)
		}
		if err := up.Proxy.Remove(ctx, a); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	kinds := map[string]int{}
	for _, e := range l.Events() {
		kinds[e.Kind]++
	}
	if kinds["fault-applied"] != 7 || kinds["fault-realised"] != 7 || kinds["fault-removed"] != 7 {
		t.Fatalf("timeline: %v", kinds)
	}
}

// noopFault is applied (a zero latency toxic) but claims a visible effect:
// the lab must refuse to call it realised.
type noopFault struct{ Latency }

func (noopFault) check(before, after ProbeResult) (string, bool) {
	return "no slowdown: " + after.String(), after.Latency > before.Latency+time.Second
}
func (noopFault) probeTimeout() time.Duration { return time.Second }

// A fault whose probe does not show it is an error, not a silent pass.
func TestUnrealisedFaultIsAnError(t *testing.T) {
	ctx := context.Background()
	l := newLab(t)
	up, err := l.Upstream(ctx, "api", upstream.Config{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = up.Proxy.Apply(ctx, noopFault{})
	if err == nil || !strings.Contains(err.Error(), "not realised") {
		t.Fatalf("want a not-realised error, got %v", err)
	}
	var seen bool
	for _, e := range l.Events() {
		seen = seen || e.Kind == "fault-not-realised"
	}
	if !seen {
		t.Fatal("the timeline does not record the unrealised fault")
	}
}

func TestLatencyCheck(t *testing.T) {
	f := Latency{Latency: 200 * time.Millisecond}
	before := ProbeResult{Latency: 2 * time.Millisecond}
	if _, ok := f.check(before, ProbeResult{Latency: 100 * time.Millisecond}); ok {
		t.Error("+98ms accepted for a 200ms fault")
	}
	if _, ok := f.check(before, ProbeResult{Latency: 203 * time.Millisecond}); !ok {
		t.Error("+201ms refused for a 200ms fault")
	}
}

func TestCloseStopsEverythingAndIsIdempotent(t *testing.T) {
	ctx := context.Background()
	l, err := New(ctx, WithDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	up, err := l.Upstream(ctx, "api", upstream.Config{})
	if err != nil {
		t.Fatal(err)
	}
	addrs := []string{up.Proxy.Addr(), strings.TrimPrefix(up.DirectURL(), "http://")}
	dir := l.Dir()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for _, a := range addrs {
		if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			_ = c.Close()
			t.Errorf("%s still accepts connections after Close", a)
		}
	}
	if _, err := New(ctx, WithBackend("nope")); err == nil || !strings.Contains(err.Error(), "valid backends are") || !strings.Contains(err.Error(), "embedded") {
		t.Errorf("unknown backend: %v", err)
	}
	if _, err := l.Upstream(ctx, "late", upstream.Config{}); err == nil {
		t.Error("a closed lab started a component")
	}
	if fileExists(dir) {
		t.Errorf("working directory %s survived Close", dir)
	}
}

func TestStartTime(t *testing.T) {
	// Not a speed assertion: a sanity bound that catches a sleep sneaking
	// into readiness (the benchmark measures the real number).
	t0 := time.Now()
	l := newLab(t)
	if _, err := l.Upstream(context.Background(), "api", upstream.Config{}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d > 20*time.Second {
		t.Fatalf("lab start took %s", d)
	}
}

func TestUpstreamRequiringClientCertsIsReady(t *testing.T) {
	l := newLab(t)
	up, err := l.Upstream(context.Background(), "mtls", upstream.Config{
		TLSFlags: pki.ServerTLSFlags{Enabled: true, ClientAuth: pki.ClientAuthRequire}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := up.Control.Stats(context.Background()); err != nil {
		t.Fatalf("control API of an mTLS upstream: %v", err)
	}
}

// A lab's directory holds private keys (upstream, client and proxy CAs):
// the directory is the user's alone and every key file is 0600, and all of
// it is gone after Close.
func TestLabFilesArePrivateAndRemoved(t *testing.T) {
	ctx := context.Background()
	l, err := New(ctx, WithDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	up, err := l.Upstream(ctx, "mtls", upstream.Config{TLSFlags: pki.ServerTLSFlags{Enabled: true, ClientAuth: pki.ClientAuthRequire}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.MITM(ctx, "mitm", mitm.Config{UpstreamCAFile: up.CAPath()}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(l.Dir()); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("lab directory %s: want mode 0700, got %v (%v)", l.Dir(), fi.Mode().Perm(), err)
	}
	keys := 0
	err = filepath.WalkDir(l.Dir(), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte("PRIVATE KEY-----")) {
			keys++
			fi, err := d.Info()
			if err != nil {
				return err
			}
			if fi.Mode().Perm()&0o077 != 0 {
				t.Errorf("%s holds a private key with mode %v: want 0600", p, fi.Mode().Perm())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if keys == 0 {
		t.Fatalf("no private key found under %s: the check checked nothing", l.Dir())
	}
	dir := l.Dir()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("%s still there after Close: %v", dir, err)
	}
}
