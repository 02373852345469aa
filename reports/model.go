// Package reports holds the evidence a run produces and renders it: results.json
// (versioned schema, see docs/results-schema.md) and one self-contained HTML
// report that works offline. JUnit comes from Ginkgo's own reporter.
package reports

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// SchemaVersion is bumped on any incompatible change to the JSON.
const SchemaVersion = 1

// Verdicts.
const (
	Passed  = "passed"
	Failed  = "failed"
	Skipped = "skipped"
)

// Run is one `make scenario`.
type Run struct {
	SchemaVersion int         `json:"schema_version"`
	Tool          string      `json:"tool"`
	StartedAt     time.Time   `json:"started_at"`
	FinishedAt    time.Time   `json:"finished_at"`
	Backend       string      `json:"backend"`
	Host          Host        `json:"host"`
	Scenarios     []*Scenario `json:"scenarios"`
}

// Host describes the machine the verdicts were measured on.
type Host struct {
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"go_version"`
	Hostname  string `json:"hostname"`
}

// Scenario is one incident reproduction and its verdict.
type Scenario struct {
	ID        string        `json:"id"`
	Family    string        `json:"family"`
	Title     string        `json:"title"`
	Symptom   string        `json:"symptom"`
	Story     string        `json:"story,omitempty"`
	Lesson    string        `json:"lesson,omitempty"`
	Commands  []Command     `json:"commands,omitempty"` // filled in with the lab's real addresses
	Labels    []string      `json:"labels,omitempty"`
	Backend   string        `json:"backend"`
	Gateway   string        `json:"gateway,omitempty"` // which gateway ran: emulation or kong image
	Cluster   string        `json:"cluster,omitempty"` // which cluster provider ran: kwok, kind, existing
	Verdict   string        `json:"verdict"`
	Reason    string        `json:"reason,omitempty"`   // skip reason or failure message
	Location  string        `json:"location,omitempty"` // file:line of the failed assertion
	StartedAt time.Time     `json:"started_at"`
	Duration  time.Duration `json:"duration_ns"`
	Phases    []*Phase      `json:"phases"`
	Timeline  []Event       `json:"timeline,omitempty"`
}

// Command is a diagnosis command a trainee can run against the lab.
type Command struct {
	Title string `json:"title"`
	Cmd   string `json:"cmd"`
}

// Event is one timeline entry: a component started, a fault applied,
// realised or removed, a config reloaded.
type Event struct {
	Time      time.Time `json:"time"`
	Kind      string    `json:"kind"`
	Component string    `json:"component"`
	Detail    string    `json:"detail,omitempty"`
}

// Phase is baseline, fault, fix, recovery (or a scenario's own name).
type Phase struct {
	Name         string        `json:"name"`
	Description  string        `json:"description,omitempty"`
	StartedAt    time.Time     `json:"started_at"`
	EndedAt      time.Time     `json:"ended_at"`
	Loads        []*Load       `json:"loads,omitempty"`
	Assertions   []Assertion   `json:"assertions"`
	Measurements []Measurement `json:"measurements,omitempty"`
	Series       []Series      `json:"series,omitempty"`
	Logs         []Log         `json:"logs,omitempty"`
}

// Load is one attack inside a phase.
type Load struct {
	Name     string             `json:"name"`
	Pacer    string             `json:"pacer"`
	Duration time.Duration      `json:"duration_ns"`
	Requests int                `json:"requests"`
	Outcomes map[string]int     `json:"outcomes"`
	Latency  map[string]float64 `json:"latency_ms"`       // p50, p90, p95, p99, max, mean
	Phases   map[string]float64 `json:"phase_p50_ms"`     // dns, connect, tls, ttfb, total
	Buckets  []Bucket           `json:"buckets"`          // per second
	Samples  []string           `json:"sample,omitempty"` // a few bodies or errors, for reading
}

// Bucket is one second of a load.
type Bucket struct {
	Start    time.Time      `json:"start"`
	Requests int            `json:"requests"`
	Outcomes map[string]int `json:"outcomes"`
	P50      float64        `json:"p50_ms"`
	P95      float64        `json:"p95_ms"`
	P99      float64        `json:"p99_ms"`
	Max      float64        `json:"max_ms"`
}

// Assertion is one checked expectation, with what was measured.
type Assertion struct {
	Description string `json:"description"`
	Expected    string `json:"expected"`
	Measured    string `json:"measured"`
	Passed      bool   `json:"passed"`
	Location    string `json:"location,omitempty"`
}

// Measurement is a number worth showing next to the assertions.
type Measurement struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	Note  string  `json:"note,omitempty"`
}

// Series is a generic time series (replicas, metadata calls per request).
type Series struct {
	Name   string  `json:"name"`
	Unit   string  `json:"unit"`
	Points []Point `json:"points"`
}

// Point is one sample of a Series.
type Point struct {
	Time  time.Time `json:"time"`
	Value float64   `json:"value"`
}

// Log is an excerpt of a component's log.
type Log struct {
	Source string   `json:"source"`
	Lines  []string `json:"lines"`
}

// Counts returns how many scenarios passed, failed and were skipped.
func (r *Run) Counts() (passed, failed, skipped int) {
	for _, s := range r.Scenarios {
		switch s.Verdict {
		case Passed:
			passed++
		case Failed:
			failed++
		default:
			skipped++
		}
	}
	return
}

// WriteJSON writes the run as indented JSON.
func (r *Run) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadJSON reads a results.json, refusing a schema it does not know.
func ReadJSON(path string) (*Run, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Run
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: not a chaoslab results file: %w", path, err)
	}
	if r.SchemaVersion != SchemaVersion {
		return nil, fmt.Errorf("%s: schema_version %d, this chaoslab reads %d", path, r.SchemaVersion, SchemaVersion)
	}
	return &r, nil
}
