package reports

import (
	"strings"
	"testing"
	"time"
)

func run(verdicts map[string]string, phase time.Duration) *Run {
	r := &Run{}
	t0 := time.Unix(0, 0)
	for id, v := range verdicts {
		r.Scenarios = append(r.Scenarios, &Scenario{ID: id, Verdict: v, Reason: "why " + id + "\nsecond line",
			Duration: 2 * phase, Phases: []*Phase{{Name: "fault", StartedAt: t0, EndedAt: t0.Add(phase)}}})
	}
	return r
}

func TestFlakeCountsVerdictsAndMissingRuns(t *testing.T) {
	f := NewFlake([]*Run{
		run(map[string]string{"a/x": Passed, "a/y": Failed}, time.Second),
		run(map[string]string{"a/x": Passed, "a/y": Passed}, 3*time.Second),
		run(map[string]string{"a/x": Passed}, 2*time.Second), // the run died before a/y
	}, true)
	if len(f.Scenarios) != 2 {
		t.Fatalf("want 2 scenarios, got %d", len(f.Scenarios))
	}
	x, y := f.Scenarios[0], f.Scenarios[1]
	if x.Passed != 3 || !x.Stable() {
		t.Errorf("a/x: want 3 passes and stable, got %+v", x)
	}
	if y.Passed != 1 || y.Failed != 1 || y.Missing != 1 || y.Stable() {
		t.Errorf("a/y: want 1 pass, 1 failure, 1 missing, unstable; got %+v", y)
	}
	if y.Failures["why a/y"] != 1 {
		t.Errorf("a/y: want the failure's first line counted once, got %v", y.Failures)
	}
	if x.SlowestPhases[0].Duration != 3*time.Second || x.MaxDuration != 6*time.Second {
		t.Errorf("a/x: want slowest fault phase 3s and longest run 6s, got %v and %v", x.SlowestPhases, x.MaxDuration)
	}
	var b strings.Builder
	if err := f.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| a/x | 3/3 | 0 | 0 | 0 |", "| a/y | 1/3 | 1 | 0 | 1 |", "1x why a/y", "with a busy loop"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, b.String())
		}
	}
}

func TestFlakeAllStableSaysSo(t *testing.T) {
	f := NewFlake([]*Run{run(map[string]string{"a/x": Passed, "a/z": Skipped}, time.Second)}, false)
	if len(f.Unstable()) != 0 {
		t.Fatalf("a skip is not instability: %+v", f.Unstable())
	}
	var b strings.Builder
	_ = f.WriteMarkdown(&b)
	if !strings.Contains(b.String(), "same verdict in every run") {
		t.Errorf("want the all-stable line, got:\n%s", b.String())
	}
}
