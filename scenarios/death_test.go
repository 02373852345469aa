package scenarios

import (
	"context"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chaoslab/chaoslab/internal/procs"
	"github.com/chaoslab/chaoslab/internal/turns"
	"github.com/chaoslab/chaoslab/lab"
	"github.com/chaoslab/chaoslab/reports"
)

// deathCase kills one lab component during a phase of a catalog scenario.
type deathCase struct {
	scenario, phase string
	component       string // a name Lab.Components lists, or a prefix ending in a space
	backend         string
	gateway         string // CHAOSLAB_GATEWAY
	cluster         string
}

// TestComponentDiesMidScenario kills each kind of lab component while a
// phase runs: the scenario must fail (never pass, never hang) with a reason
// naming the component and the phase, and the lab must still tear
// everything else down (processes, containers, listeners; goroutines are
// checked by TestMain).
func TestComponentDiesMidScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("component-death tests run catalog scenarios: skipped in -short mode")
	}
	for _, c := range []deathCase{
		{scenario: "faults/latency-injection", phase: "fault", component: "toxiproxy", backend: "embedded"},
		{scenario: "faults/latency-injection", phase: "fault", component: "upstream ", backend: "embedded"},
		{scenario: "gateway/504-slow-upstream", phase: "fault", component: "gateway", backend: "embedded", gateway: "emulation"},
		{scenario: "gateway/504-slow-upstream", phase: "fault", component: "gateway", backend: "embedded", gateway: "kong"},
		{scenario: "faults/latency-injection", phase: "fault", component: "toxiproxy", backend: "docker"},
		{scenario: "faults/latency-injection", phase: "fault", component: "upstream ", backend: "docker"},
		{scenario: "gateway/504-slow-upstream", phase: "fault", component: "gateway", backend: "docker", gateway: "kong"},
		{scenario: "autoscaling/hpa-unknown-target", phase: "fault", component: "kube-apiserver", backend: "embedded", cluster: "kwok"},
		{scenario: "autoscaling/hpa-unknown-target", phase: "fault", component: "kube-apiserver", backend: "embedded", cluster: "node"},
	} {
		name := c.backend + "/" + strings.TrimSpace(c.component) + "/" + c.scenario
		if c.gateway != "" {
			name += "/gateway=" + c.gateway
		}
		if c.cluster != "" {
			name += "/cluster=" + c.cluster
		}
		t.Run(name, func(t *testing.T) { runDeathCase(t, c) })
	}
}

func runDeathCase(t *testing.T, c deathCase) {
	if c.cluster != "" {
		turns.Take(t)
	}
	t.Setenv(lab.EnvGateway, c.gateway)
	sc, err := Lookup(c.scenario)
	if err != nil {
		t.Fatal(err)
	}
	self := os.Getpid()
	kidsBefore := procs.Descendants(self)
	socksBefore := listenSet(t, self)

	var (
		mu                sync.Mutex
		killed            string
		killedAt          time.Time
		killErr           error
		runID             string
		clusterProcs      []procs.Proc
		wg                sync.WaitGroup
		componentsAtSetup []string
	)
	onPhase := func(phase string, l *lab.Lab) {
		if phase != c.phase {
			return
		}
		if b, ok := l.Backend().(interface{ RunID() string }); ok {
			runID = b.RunID()
		}
		if m := regexp.MustCompile(`cluster (lab-[0-9]+) in`).FindStringSubmatch(eventsText(l)); m != nil {
			clusterProcs = procs.Mentioning("/clusters/" + m[1] + "/")
		}
		componentsAtSetup = l.Components()
		target := c.component
		if strings.HasSuffix(target, " ") {
			for _, n := range componentsAtSetup {
				if strings.HasPrefix(n, target) {
					target = n
					break
				}
			}
		}
		wg.Add(1)
		go func() { // half a second into the phase: mid-load
			defer wg.Done()
			time.Sleep(500 * time.Millisecond)
			err := l.Kill(target)
			mu.Lock()
			killed, killedAt, killErr = target, time.Now(), err
			mu.Unlock()
		}()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// A short parent: real Kong's unix sockets live under the lab dir, and
	// t.TempDir's long names overflow sun_path (108 bytes).
	dir, err := os.MkdirTemp("", "cl-death-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	res := Execute(ctx, sc, Options{Backend: c.backend, Dir: dir, Cluster: c.cluster, OnPhase: onPhase})
	returned := time.Now()
	wg.Wait()
	if res.Verdict == reports.Skipped {
		t.Skip(res.Reason)
	}
	mu.Lock()
	defer mu.Unlock()
	if killed == "" {
		t.Fatalf("phase %s never ran (components %v): %s: %s", c.phase, componentsAtSetup, res.Verdict, res.Reason)
	}
	if killErr != nil {
		t.Fatalf("killing %s: %v", killed, killErr)
	}
	t.Logf("killed %s %s into phase %s; Execute returned %s later: %s: %s", killed, "0.5s", c.phase,
		returned.Sub(killedAt).Round(time.Millisecond), res.Verdict, firstLine(res.Reason))
	if ctx.Err() != nil {
		t.Fatalf("the run hung until the test's deadline: %s", res.Reason)
	}
	if res.Verdict != reports.Failed {
		t.Fatalf("a run whose %s died %s", killed, res.Verdict)
	}
	if want := killed + " died during phase " + c.phase; !strings.Contains(res.Reason, want) {
		t.Fatalf("reason does not say %q: %s", want, res.Reason)
	}
	// Nothing left: processes this test started, listeners, containers, the
	// control plane's processes.
	if left := newProcs(procs.Descendants(self), kidsBefore); len(left) > 0 {
		t.Errorf("processes left after the run: %v", left)
	}
	if left := procs.Alive(clusterProcs); len(left) > 0 {
		t.Errorf("control-plane processes left after the run: %v", left)
	}
	if extra := diff(listenSet(t, self), socksBefore); len(extra) > 0 {
		t.Errorf("listeners left after the run: %v", extra)
	}
	if runID != "" {
		if left := containersOf(t, runID); len(left) > 0 {
			t.Errorf("containers left after the run: %v", left)
		}
	}
}

func eventsText(l *lab.Lab) string {
	var b strings.Builder
	for _, e := range l.Events() {
		b.WriteString(e.Component + " " + e.Detail + "\n")
	}
	return b.String()
}
