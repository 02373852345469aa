package scenarios

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/chaoslab/chaoslab/load"
)

// Drill is what a scenario needs to be a training exercise: the ticket a
// user would file (the symptom, never the cause), progressive hints, the
// fixes it accepts, and how its phases map onto the drill. A scenario
// without a Drill is simply not offered as one. Drill data lives beside the
// catalog in drills_<family>.go, linked to its scenario by ID.
type Drill struct {
	ID         string   // the scenario's ID
	Difficulty string   // easy, medium, hard
	Tools      []string // what the trainee needs: curl, openssl, kubectl, the Kong admin API
	// Ticket is what a user reports: the symptom and when it started, in a
	// user's words. Not the cause, not the fix.
	Ticket string
	// Hints are revealed one per `drill hint`, from where to look to the
	// exact command.
	Hints []string
	// Fixes are the remediations check accepts, each with the interface it
	// goes through.
	Fixes []string
	// Fastest are the commands that would have found the cause fastest
	// (the debrief).
	Fastest []string
	// Baseline and Fault name the phases played before the briefing
	// (documentation; they run as the scenario runs them). FixPhase is left
	// to the trainee; Recovery is what `check` runs against the live lab.
	Baseline, Fault []string
	FixPhase        string
	Recovery        string
	// Settings are the platform's settings a trainee changes with
	// `chaoslab drill set KEY=VALUE` where no real interface exists.
	Settings []Setting
	// Addresses lists what the trainee may use (URLs, kubeconfig, CA files).
	Addresses func(p Play, s *S) []Address
	// Logs are the log sources copied to files in the drill's directory.
	Logs func(p Play) []LogSource
	// Background is the bounded load that keeps logs and dashboards alive
	// while the trainee investigates (paused during a check); nil: none.
	Background func(p Play) *Background
	// Check, when set, replaces re-running the scenario's recovery phase:
	// the same recovery assertions, aimed at what the trainee chose (the CA
	// bundle a client trusts, the name it dials) instead of the remediation
	// the scenario prepared. Nil: check re-runs the recovery phase itself,
	// which reads the live lab.
	Check func(p Play, s *S)
}

// Setting is one platform setting a trainee can change.
type Setting struct {
	Key   string
	Doc   string                                 // what it is, in the platform's words
	Apply func(p Play, s *S, value string) error // runs on the scenario's goroutine
}

// Address is one thing the trainee may use. Var, when set, names it in
// hints and commands ($PROXY), where the CLI fills in Value.
type Address struct {
	Var   string `json:"var,omitempty"`
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Expand fills $VAR placeholders in a hint or command with the addresses,
// longest name first ($API_ADDR before $API).
func Expand(text string, addrs []Address) string {
	vars := make([]Address, 0, len(addrs))
	for _, a := range addrs {
		if a.Var != "" {
			vars = append(vars, a)
		}
	}
	sort.SliceStable(vars, func(i, j int) bool { return len(vars[i].Var) > len(vars[j].Var) })
	for _, a := range vars {
		text = strings.ReplaceAll(text, "$"+a.Var, a.Value)
	}
	return text
}

// LogSource is a log the trainee may read (copied to a file).
type LogSource struct {
	Name  string // file name, e.g. gateway-error.log
	Lines func() []string
}

// Background is the drill's bounded background load.
type Background struct {
	Targets []load.Target
	Rate    float64 // requests per second, capped at maxBackgroundRate
	Options []load.Option
}

const maxBackgroundRate = 50

// Phase names, when a Drill does not say otherwise.
func (d Drill) fixPhase() string { return or(d.FixPhase, "fix") }
func (d Drill) recoveryPhase() string {
	return or(d.Recovery, "recovery")
}
func (d Drill) baselinePhases() []string {
	if d.Baseline == nil {
		return []string{"baseline"}
	}
	return d.Baseline
}
func (d Drill) faultPhases() []string {
	if d.Fault == nil {
		return []string{"fault"}
	}
	return d.Fault
}

// PhasePlan says which phases are baseline, fault, left to the trainee and
// checked.
func (d Drill) PhasePlan() string {
	return fmt.Sprintf("baseline %s; fault %s; %s left to the trainee; check runs %s",
		strings.Join(d.baselinePhases(), ","), strings.Join(d.faultPhases(), ","), d.fixPhase(), d.recoveryPhase())
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

var (
	drillMu sync.Mutex
	drills  = map[string]Drill{}
)

// RegisterDrill adds drill data for a catalog scenario.
func RegisterDrill(d Drill) {
	drillMu.Lock()
	defer drillMu.Unlock()
	switch {
	case d.Ticket == "" || len(d.Hints) == 0 || len(d.Fixes) == 0:
		panic(fmt.Sprintf("drill %q: Ticket, Hints and Fixes are required", d.ID))
	case d.Difficulty != "easy" && d.Difficulty != "medium" && d.Difficulty != "hard":
		panic(fmt.Sprintf("drill %q: difficulty %q: want easy, medium or hard", d.ID, d.Difficulty))
	}
	if _, dup := drills[d.ID]; dup {
		panic(fmt.Sprintf("drill %q registered twice", d.ID))
	}
	drills[d.ID] = d
}

// DrillEntry is a drill with its scenario.
type DrillEntry struct {
	Scenario
	Drill Drill
}

// Drills lists every scenario that can be a drill, sorted by ID. Drill
// data whose scenario is not in the catalog is a programming error.
func Drills() []DrillEntry {
	drillMu.Lock()
	ds := make([]Drill, 0, len(drills))
	for _, d := range drills {
		ds = append(ds, d)
	}
	drillMu.Unlock()
	out := make([]DrillEntry, 0, len(ds))
	for _, d := range ds {
		sc, err := Lookup(d.ID)
		if err != nil {
			panic(fmt.Sprintf("drill data for a scenario not in the catalog: %v", err))
		}
		out = append(out, DrillEntry{Scenario: sc, Drill: d})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// LookupDrill finds a drill by its scenario's ID.
func LookupDrill(id string) (DrillEntry, error) {
	all := Drills()
	ids := make([]string, 0, len(all))
	for _, e := range all {
		if e.ID == id {
			return e, nil
		}
		ids = append(ids, e.ID)
	}
	return DrillEntry{}, fmt.Errorf("unknown drill %q: valid drills are %s", id, strings.Join(ids, ", "))
}
