package scenarios

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	. "github.com/chaoslab/chaoslab/assertions"
	"github.com/chaoslab/chaoslab/fakes/upstream"
	"github.com/chaoslab/chaoslab/lab"
	"github.com/chaoslab/chaoslab/reports"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// failsMidway starts a topology, applies a fault and fails an assertion with
// the fault still on: the lab must still be torn down completely.
type failsMidway struct {
	up    *lab.Upstream
	addrs *[]string
	dir   *string
}

func (x *failsMidway) Setup(s *S) {
	var err error
	x.up, err = s.Lab.Upstream(s.Ctx, "api", upstream.Config{})
	s.Must(err, "upstream")
	*x.addrs = []string{x.up.Proxy.Addr(), strings.TrimPrefix(x.up.DirectURL(), "http://")}
	*x.dir = s.Lab.Dir()
}

func (x *failsMidway) Run(s *S) {
	s.Phase("fault", "latency then a wrong expectation", func() {
		s.apply(x.up.Proxy, lab.Latency{Latency: 300 * time.Millisecond})
		rs := s.Attack("slow", get(x.up.URL()), constant(), 500*time.Millisecond)
		s.Expect(rs, "a deliberately wrong expectation").To(HaveStatusShare(504, ">=", 0.95))
		s.Failf("not reached")
	})
}

func TestFailureMidwayTearsDownEverything(t *testing.T) {
	var addrs []string
	var dir string
	sc := Scenario{ID: "test/fails-midway", Symptom: "x", New: func() Play { return &failsMidway{addrs: &addrs, dir: &dir} }}
	res := Execute(context.Background(), sc, Options{Dir: t.TempDir()})
	if res.Verdict != reports.Failed {
		t.Fatalf("verdict %s", res.Verdict)
	}
	if !strings.Contains(res.Reason, "expected >= 95% 504, got 100% 200 of") || !strings.Contains(res.Location, "runner_test.go") {
		t.Fatalf("failure not in the user's terms or without location: %q at %q", res.Reason, res.Location)
	}
	last := res.Phases[len(res.Phases)-1]
	if len(last.Assertions) != 1 || last.Assertions[0].Passed || last.Loads[0].Requests == 0 {
		t.Fatalf("evidence of the failed phase not recorded: %+v", last)
	}
	for _, a := range addrs {
		if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still listening after a failed scenario", a)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("lab dir %s survived: %v", dir, err)
	}
	// goleak in TestMain checks no goroutine (toxiproxy links, upstream
	// handlers, vegeta workers) survived.
}

type panics struct{}

func (panics) Setup(*S) {}
func (panics) Run(s *S) { var m map[string]int; m["boom"]++ }

type skips struct{}

func (skips) Setup(*S) {}
func (skips) Run(s *S) { s.Skip("needs a cluster: run make k8s-tools") }

func TestVerdicts(t *testing.T) {
	ctx := context.Background()
	r := Execute(ctx, Scenario{ID: "t/p", Symptom: "x", New: func() Play { return panics{} }}, Options{Dir: t.TempDir()})
	if r.Verdict != reports.Failed || !strings.Contains(r.Reason, "panicked") {
		t.Errorf("panic: %s %q", r.Verdict, r.Reason)
	}
	r = Execute(ctx, Scenario{ID: "t/s", Symptom: "x", New: func() Play { return skips{} }}, Options{Dir: t.TempDir()})
	if r.Verdict != reports.Skipped || r.Reason != "needs a cluster: run make k8s-tools" {
		t.Errorf("skip: %s %q", r.Verdict, r.Reason)
	}
	r = Execute(ctx, Scenario{ID: "t/n", Symptom: "x", Needs: []lab.Capability{lab.CapRealKong}, New: func() Play { return skips{} }}, Options{Dir: t.TempDir()})
	if r.Verdict != reports.Skipped || !strings.Contains(r.Reason, "cannot provide real-kong") {
		t.Errorf("needs: %s %q", r.Verdict, r.Reason)
	}
	r = Execute(ctx, Scenario{ID: "t/b", Symptom: "x", New: func() Play { return skips{} }}, Options{Backend: "nope", Dir: t.TempDir()})
	if r.Verdict != reports.Failed || !strings.Contains(r.Reason, "valid backends are") {
		t.Errorf("bad backend: %s %q", r.Verdict, r.Reason)
	}
}

func TestCancelEndsAScenario(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	sc := Scenario{ID: "t/c", Symptom: "x", New: func() Play { return &holdForever{cancel: cancel} }}
	t0 := time.Now()
	r := Execute(ctx, sc, Options{Dir: t.TempDir()})
	if r.Verdict != reports.Failed || !strings.Contains(r.Reason, "interrupted") || time.Since(t0) > 10*time.Second {
		t.Fatalf("cancel: %s %q after %s", r.Verdict, r.Reason, time.Since(t0))
	}
}

type holdForever struct{ cancel func() }

func (h *holdForever) Setup(s *S) {
	_, err := s.Lab.Upstream(s.Ctx, "api", upstream.Config{})
	s.Must(err, "upstream")
}
func (h *holdForever) Run(s *S) {
	time.AfterFunc(300*time.Millisecond, h.cancel) // Ctrl-C
	s.Sleep(time.Hour)
}

func TestLabelFilter(t *testing.T) {
	if err := CheckLabelFilter("faults && !upstream-reset"); err != nil {
		t.Fatal(err)
	}
	err := CheckLabelFilter("fautls || gateway-typo")
	if err == nil || !strings.Contains(err.Error(), `unknown scenario label "fautls", "gateway-typo"`) ||
		!strings.Contains(err.Error(), "valid labels are") || !strings.Contains(err.Error(), "latency-injection") {
		t.Fatalf("typo: %v", err)
	}
	if _, err := Lookup("faults/nope"); err == nil || !strings.Contains(err.Error(), "faults/latency-injection") {
		t.Fatalf("lookup: %v", err)
	}
}

// listensEverywhere is a topology with a server on the wildcard address: the
// setup phase must fail it, naming the socket.
type listensEverywhere struct{ ln *net.Listener }

func (x listensEverywhere) Setup(s *S) {
	ln, err := net.Listen("tcp", ":0")
	s.Must(err, "listen")
	*x.ln = ln
	s.Lab.OnClose("wildcard listener", ln.Close)
}

func (listensEverywhere) Run(*S) {}

func TestSetupFailsAListenerOffLoopback(t *testing.T) {
	var ln net.Listener
	res := Execute(context.Background(), Scenario{ID: "t/wild", Symptom: "x", New: func() Play { return listensEverywhere{&ln} }},
		Options{Dir: t.TempDir()})
	port := ln.Addr().(*net.TCPAddr).Port
	if res.Verdict != reports.Failed || !strings.Contains(res.Reason, "listens off loopback") ||
		!strings.Contains(res.Reason, fmt.Sprintf(":%d", port)) {
		t.Fatalf("want a failure naming the wildcard listener :%d, got %s: %s", port, res.Verdict, res.Reason)
	}
}
