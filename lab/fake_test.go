package lab

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chaoslab/chaoslab/fakes/mitm"
)

func TestFakeStartsAnyRegisteredFakeAndTheLabStopsIt(t *testing.T) {
	ctx := context.Background()
	l, err := New(ctx, WithDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dir := filepath.Join(l.Dir(), "mitm")
	svc, err := l.Fake(ctx, mitm.Config{Mode: mitm.Tunnel, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(svc.URL(), "http://127.0.0.1:") {
		t.Fatalf("url %q", svc.URL())
	}
	ca := svc.Info("ca")
	if ca != filepath.Join(dir, mitm.CAFileName) || !fileExists(ca) {
		t.Fatalf("reported ca %q should name an existing file in %s", ca, dir)
	}
	var started bool
	for _, e := range l.Events() {
		started = started || e.Kind == "started" && e.Component == "mitm" && strings.Contains(e.Detail, svc.URL())
	}
	if !started {
		t.Fatalf("no started event in %v", l.Events())
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(ca); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the proxy CA outlived the lab: %v", err)
	}
	if _, err := os.Stat(l.Dir()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the lab dir outlived the lab: %v", err)
	}
	// goleak (TestMain) checks the proxy's goroutines are gone too.
}

func TestFakeErrors(t *testing.T) {
	ctx := context.Background()
	l := newLab(t)
	if _, err := l.Fake(ctx, unregistered{}); err == nil || !strings.Contains(err.Error(), "valid fakes are") {
		t.Fatalf("unknown fake: %v", err)
	}
	if _, err := l.Fake(ctx, mitm.Config{Mode: "sideways"}); err == nil || !strings.Contains(err.Error(), "--mode") {
		t.Fatalf("bad flag: %v", err)
	}
	_ = l.Close()
	if _, err := l.Fake(ctx, mitm.Config{}); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("closed lab: %v", err)
	}
}

// unregistered configures a fake nobody registered.
type unregistered struct{}

func (unregistered) Fake() string   { return "no-such-fake" }
func (unregistered) Args() []string { return nil }
