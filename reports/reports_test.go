package reports

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func sampleRun() *Run {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	s := &Scenario{ID: "faults/latency-injection", Family: "faults", Title: "t", Symptom: "p50 rises by 200ms",
		Story: "para one\n\npara <two>", Lesson: "fix it", Verdict: Failed, Reason: "expected >= 95% 504, got 41% 504",
		StartedAt: t0, Duration: 4 * time.Second, Backend: "embedded",
		Commands: []Command{{"timing", "curl -w x http://127.0.0.1:1/"}}}
	for i, name := range []string{"baseline", "fault"} {
		p := &Phase{Name: name, StartedAt: t0.Add(time.Duration(2*i) * time.Second), EndedAt: t0.Add(time.Duration(2*i+2) * time.Second)}
		p.Loads = []*Load{{Name: name, Requests: 10, Outcomes: map[string]int{"200": 6, "504": 4},
			Latency: map[string]float64{"p50": 1, "p99": 2}, Phases: map[string]float64{"dns": 0},
			Buckets: []Bucket{{Start: p.StartedAt, Requests: 10, Outcomes: map[string]int{"200": 6, "504": 4}, P50: 1, P95: 2, P99: 3}}}}
		p.Assertions = []Assertion{{Description: "504 share", Expected: ">= 95%", Measured: "40%", Passed: i == 0}}
		p.Series = []Series{{Name: "replicas", Unit: "pods", Points: []Point{{p.StartedAt, float64(i + 1)}}}}
		s.Phases = append(s.Phases, p)
	}
	s.Timeline = []Event{{Time: t0.Add(2 * time.Second), Kind: "fault-applied", Component: "api", Detail: "latency"},
		{Time: t0.Add(3 * time.Second), Kind: "fault-removed", Component: "api", Detail: "latency"}}
	return &Run{SchemaVersion: SchemaVersion, Tool: "chaoslab", StartedAt: t0, Backend: "embedded",
		Scenarios: []*Scenario{s, {ID: "autoscaling/hpa-scale-up", Verdict: Skipped, Reason: "no cluster: run make k8s-tools"}}}
}

func TestJSONRoundTripAndSchema(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "results.json")
	r := sampleRun()
	if err := r.WriteJSON(p); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSON(p)
	if err != nil {
		t.Fatal(err)
	}
	if back.Scenarios[0].Phases[1].Assertions[0].Measured != "40%" {
		t.Fatal("assertion lost in round trip")
	}
	b, _ := os.ReadFile(p)
	_ = os.WriteFile(p, bytes.Replace(b, []byte(`"schema_version": 1`), []byte(`"schema_version": 99`), 1), 0o644)
	if _, err := ReadJSON(p); err == nil || !strings.Contains(err.Error(), "schema_version 99") {
		t.Fatalf("unknown schema accepted: %v", err)
	}
}

func TestHTMLIsSelfContained(t *testing.T) {
	var b bytes.Buffer
	if err := sampleRun().WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	h := b.String()
	for _, want := range []string{"1 failed", "1 skipped", "<polyline", `class="fault"`, "expected &gt;= 95% 504",
		"no cluster: run make k8s-tools", "para &lt;two&gt;", "curl -w x http://127.0.0.1:1/", "replicas"} {
		if !strings.Contains(h, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	// Offline: no script, no stylesheet or image from anywhere.
	if regexp.MustCompile(`(?i)<script|<link|src=|@import|url\(`).MatchString(h) {
		t.Error("report references external resources")
	}
}

func TestFaultWindows(t *testing.T) {
	r := sampleRun()
	ws := faultWindows(r.Scenarios[0].Timeline, r.Scenarios[0].StartedAt, 4)
	if len(ws) != 1 || ws[0].from != 2 || ws[0].to != 3 {
		t.Fatalf("windows %+v", ws)
	}
}

func TestStyleIsTheReportsStylesheet(t *testing.T) {
	css := Style()
	if !strings.Contains(css, ".pill") || strings.Contains(css, "<") {
		t.Fatalf("Style() = %.200q: want the report's CSS without markup", css)
	}
}
