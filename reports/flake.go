package reports

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Flake is what N runs of the catalog say about each scenario's verdict:
// how often it passed, its slowest phases, and every distinct failure.
type Flake struct {
	Runs      int              `json:"runs"`
	Hog       bool             `json:"hog"` // a busy loop occupied one core during the runs
	Scenarios []*FlakeScenario `json:"scenarios"`
}

// FlakeScenario is one scenario across the runs.
type FlakeScenario struct {
	ID      string `json:"id"`
	Passed  int    `json:"passed"`
	Failed  int    `json:"failed"`
	Skipped int    `json:"skipped"`
	Missing int    `json:"missing"` // runs in which it has no verdict at all (the run died)
	// MaxDuration is the longest the scenario took in any run.
	MaxDuration time.Duration `json:"max_duration_ns"`
	// SlowestPhases are the phase durations, longest first (at most three,
	// one per phase name), across the runs.
	SlowestPhases []PhaseTime `json:"slowest_phases"`
	// Failures are the distinct failure reasons (first line), with how often.
	Failures map[string]int `json:"failures,omitempty"`
}

// PhaseTime is a phase's longest duration over the runs.
type PhaseTime struct {
	Phase    string        `json:"phase"`
	Duration time.Duration `json:"duration_ns"`
}

// Stable says whether every run that got to the scenario gave the same
// verdict and none failed.
func (f *FlakeScenario) Stable() bool { return f.Failed == 0 && f.Missing == 0 }

// NewFlake aggregates runs (each a results.json) into per-scenario counts.
// A scenario present in one run but not another counts as missing there.
func NewFlake(runs []*Run, hog bool) *Flake {
	byID := map[string]*FlakeScenario{}
	slowest := map[string]map[string]time.Duration{}
	for _, r := range runs {
		for _, s := range r.Scenarios {
			fs := byID[s.ID]
			if fs == nil {
				fs = &FlakeScenario{ID: s.ID}
				byID[s.ID] = fs
				slowest[s.ID] = map[string]time.Duration{}
			}
			switch s.Verdict {
			case Passed:
				fs.Passed++
			case Skipped:
				fs.Skipped++
			default:
				fs.Failed++
				if fs.Failures == nil {
					fs.Failures = map[string]int{}
				}
				why, _, _ := strings.Cut(s.Reason, "\n")
				fs.Failures[why]++
			}
			fs.MaxDuration = max(fs.MaxDuration, s.Duration)
			for _, p := range s.Phases {
				if d := p.EndedAt.Sub(p.StartedAt); d > slowest[s.ID][p.Name] {
					slowest[s.ID][p.Name] = d
				}
			}
		}
	}
	f := &Flake{Runs: len(runs), Hog: hog}
	for id, fs := range byID {
		fs.Missing = len(runs) - fs.Passed - fs.Failed - fs.Skipped
		for name, d := range slowest[id] {
			fs.SlowestPhases = append(fs.SlowestPhases, PhaseTime{name, d})
		}
		sort.Slice(fs.SlowestPhases, func(i, j int) bool {
			a, b := fs.SlowestPhases[i], fs.SlowestPhases[j]
			return a.Duration > b.Duration || a.Duration == b.Duration && a.Phase < b.Phase
		})
		if len(fs.SlowestPhases) > 3 {
			fs.SlowestPhases = fs.SlowestPhases[:3]
		}
		f.Scenarios = append(f.Scenarios, fs)
	}
	sort.Slice(f.Scenarios, func(i, j int) bool { return f.Scenarios[i].ID < f.Scenarios[j].ID })
	return f
}

// Unstable lists the scenarios that failed or went missing in some run.
func (f *Flake) Unstable() []*FlakeScenario {
	var out []*FlakeScenario
	for _, s := range f.Scenarios {
		if !s.Stable() {
			out = append(out, s)
		}
	}
	return out
}

// WriteMarkdown writes the pass-rate table, then each failure message.
func (f *Flake) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	hog := ""
	if f.Hog {
		hog = ", with a busy loop on one core"
	}
	fmt.Fprintf(&b, "# Verdict stability: %d runs of the catalog%s\n\n", f.Runs, hog)
	b.WriteString("| scenario | passed | failed | skipped | missing | longest run | slowest phases |\n|---|---|---|---|---|---|---|\n")
	for _, s := range f.Scenarios {
		var phases []string
		for _, p := range s.SlowestPhases {
			phases = append(phases, fmt.Sprintf("%s %.1fs", p.Phase, p.Duration.Seconds()))
		}
		fmt.Fprintf(&b, "| %s | %d/%d | %d | %d | %d | %.1fs | %s |\n", s.ID, s.Passed, f.Runs, s.Failed, s.Skipped,
			s.Missing, s.MaxDuration.Seconds(), strings.Join(phases, ", "))
	}
	if bad := f.Unstable(); len(bad) > 0 {
		b.WriteString("\n## Failures\n")
		for _, s := range bad {
			fmt.Fprintf(&b, "\n### %s\n\n", s.ID)
			reasons := make([]string, 0, len(s.Failures))
			for r := range s.Failures {
				reasons = append(reasons, r)
			}
			sort.Strings(reasons)
			for _, r := range reasons {
				fmt.Fprintf(&b, "- %dx %s\n", s.Failures[r], r)
			}
			if s.Missing > 0 {
				fmt.Fprintf(&b, "- %dx no verdict (the run ended before it)\n", s.Missing)
			}
		}
	} else {
		b.WriteString("\nEvery scenario gave the same verdict in every run.\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
