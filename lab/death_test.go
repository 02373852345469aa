package lab

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chaoslab/chaoslab/fakes/imds"
	"github.com/chaoslab/chaoslab/fakes/upstream"
)

func TestDeathWatch(t *testing.T) {
	ctx := context.Background()
	l, err := New(ctx, WithDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Upstream(ctx, "orders", upstream.Config{}); err != nil {
		t.Fatal(err)
	}
	md, err := l.Fake(ctx, imds.Config{})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(l.Components(), ", ")
	for _, want := range []string{"upstream orders", "toxiproxy", "fake imds"} {
		if !strings.Contains(got, want) {
			t.Fatalf("watched components %q lack %q", got, want)
		}
	}
	// Stopped on purpose through its handle: not a death.
	if err := md.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Kill("upstream nope"); err == nil || !strings.Contains(err.Error(), "upstream orders") {
		t.Fatalf("killing an unknown component: %v (want an error listing the watched ones)", err)
	}
	if err := l.Kill("upstream orders"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.Died():
	case <-time.After(30 * time.Second):
		t.Fatal("the lab did not notice the killed upstream within 30 s")
	}
	ds := l.Deaths()
	if len(ds) != 1 || ds[0].Component != "upstream orders" || !strings.Contains(ds[0].Error(), "upstream orders died") {
		t.Fatalf("deaths %+v, want only the upstream", ds)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// What Close stopped did not die.
	if ds := l.Deaths(); len(ds) != 1 {
		t.Fatalf("deaths after Close %+v, want only the upstream", ds)
	}
}
