package scenarios

import (
	"context"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chaoslab/chaoslab/load"
	"github.com/chaoslab/chaoslab/reports"
)

func TestPerRequestDividesEachIntervalsIncreaseByItsRequests(t *testing.T) {
	t0 := time.Now()
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	samples := []counterSample{{at(0), 10}, {at(500), 20}, {at(1000), 20}, {at(1500), 26}}
	rs := load.Results{
		{Timestamp: at(100)}, {Timestamp: at(200)}, {Timestamp: at(300)}, {Timestamp: at(400)},
		// sent before 500 and 1000, but counted where their middles are
		// (1040, 1100): the interval 500..1000 has no request and no point
		{Timestamp: at(490), Latency: 1100 * time.Millisecond},
		{Timestamp: at(900), Latency: 400 * time.Millisecond}, {Timestamp: at(1200)},
	}
	got := perRequest(samples, rs)
	want := []reports.Point{{Time: at(500), Value: 2.5}, {Time: at(1500), Value: 2}}
	if len(got) != len(want) {
		t.Fatalf("points %v, want %v", got, want)
	}
	for i := range want {
		if !got[i].Time.Equal(want[i].Time) || got[i].Value != want[i].Value {
			t.Fatalf("point %d: %v, want %v", i, got[i], want[i])
		}
	}
}

// progress is a Progress writer a test can wait on.
type progress struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (p *progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.buf.Write(b)
}

func (p *progress) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.buf.String()
}

func (p *progress) waitFor(t *testing.T, substr string, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if s := p.String(); strings.Contains(s, substr) {
			return s
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %q in progress within %s:\n%s", substr, within, p.String())
	return ""
}

// Interrupted in the middle of a measured load (the metadata-counter
// sampler running beside it), the storm scenario ends as interrupted and
// leaves no goroutine behind (goleak in TestMain).
func TestStormInterruptedMidLoadLeavesNothing(t *testing.T) {
	sc, err := Lookup("credentials/short-ttl-refresh-storm")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := &progress{}
	done := make(chan *reports.Scenario)
	go func() { done <- Execute(ctx, sc, Options{Dir: t.TempDir(), Progress: p}) }()
	p.waitFor(t, "phase baseline", 30*time.Second)
	time.Sleep(700 * time.Millisecond) // into the baseline load
	cancel()
	select {
	case res := <-done:
		if res.Verdict != reports.Failed || !strings.Contains(res.Reason, "interrupted") {
			t.Fatalf("verdict %s %q, want failed: interrupted", res.Verdict, res.Reason)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the scenario did not end after cancel")
	}
}

// The DNS scenario runs its fake DNS in-process, outside the lab's own
// clean-up: held after setup for a trainee and then stopped, it must close
// the server although Run never ran.
func TestDNSScenarioHeldAfterSetupClosesItsServer(t *testing.T) {
	sc, err := Lookup("dns/ndots-search-expansion")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := &progress{}
	done := make(chan *reports.Scenario)
	go func() { done <- Execute(ctx, sc, Options{Dir: t.TempDir(), Progress: p, HoldAfter: "setup"}) }()
	out := p.waitFor(t, "holding after phase setup", 30*time.Second)
	m := regexp.MustCompile(`dig @(127\.0\.0\.1) -p (\d+) `).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no dig command with the lab DNS's address in:\n%s", out)
	}
	addr := net.JoinHostPort(m[1], m[2])
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("the lab DNS at %s is not up while held: %v", addr, err)
	}
	c.Close()
	cancel()
	select {
	case res := <-done:
		if res.Verdict != reports.Skipped {
			t.Fatalf("verdict %s %q, want skipped (held)", res.Verdict, res.Reason)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the held scenario did not end after cancel")
	}
	// The server is closed by a context.AfterFunc, which runs in its own
	// goroutine as the run's context ends: give it a moment.
	deadline := time.Now().Add(2 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("the lab DNS at %s outlived the held scenario", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
