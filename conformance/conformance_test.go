package conformance

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	_ "github.com/chaoslab/chaoslab/fakes/kong" // the "gateway" fake
	"github.com/chaoslab/chaoslab/lab"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newTopology(t *testing.T) *Topology {
	t.Helper()
	ctx := context.Background()
	l, err := lab.New(ctx, lab.WithDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.CloseIdleConnections()
		if err := l.Close(); err != nil {
			t.Errorf("lab close: %v", err)
		}
	})
	top, err := NewTopology(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	return top
}

func reportDir() string {
	if d := os.Getenv("CHAOSLAB_CONFORMANCE_DIR"); d != "" {
		return d
	}
	return filepath.Join("..", "reports", "conformance")
}

func reportFailures(t *testing.T, res *Result) {
	t.Helper()
	for _, c := range res.Cases {
		if c.Passed() {
			continue
		}
		var b strings.Builder
		for _, d := range c.Diffs {
			b.WriteString("\n    " + d.String())
		}
		for _, d := range c.LeftExpect {
			b.WriteString("\n    " + res.Left + " vs facts/kong.md: " + d.What + ": want " + d.Left + ", got " + d.Right)
		}
		for _, d := range c.RightExpect {
			b.WriteString("\n    " + res.Right + " vs facts/kong.md: " + d.What + ": want " + d.Left + ", got " + d.Right)
		}
		t.Errorf("case %s (%s):%s", c.Name, c.Request, b.String())
	}
}

// The emulation against itself: the normalisation must leave nothing but
// real differences (none here), and every hand-checked expectation from
// facts/kong.md must hold.
func TestEmulationAgainstItself(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two gateways and runs the whole matrix")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	top := newTopology(t)
	res, err := Run(ctx, top, Emulation(), Emulation(), Cases(), nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Left = "emulation (reference run)"
	if err := NewReport(res, nil).Write(reportDir(), "self-check"); err != nil {
		t.Error(err)
	}
	reportFailures(t, res)
	p, f, _ := res.Counts()
	t.Logf("%d cases: %d passed, %d failed", len(res.Cases), p, f)
}

// The differential run: real Kong (the reference) against the emulation.
func TestAgainstRealKong(t *testing.T) {
	exc, err := LoadExceptions("exceptions.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	top := newTopology(t)
	res, err := Run(ctx, top, RealKong(), Emulation(), Cases(), exc)
	if IsNotBuilt(err) {
		t.Skip(NotBuilt)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := NewReport(res, exc).Write(reportDir(), "index"); err != nil {
		t.Error(err)
	}
	reportFailures(t, res)
	for _, e := range res.Unused {
		t.Errorf("exceptions.yaml: %s/%s %s is no longer needed: no difference uses it", e.Case, e.Aspect, e.What)
	}
	p, f, x := res.Counts()
	t.Logf("%d cases: %d match (%d of them with an exception), %d differ; report %s", len(res.Cases), p, x, f,
		filepath.Join(reportDir(), "index.html"))
}
