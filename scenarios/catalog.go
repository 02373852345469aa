// Package scenarios is the catalog: each production incident as a runbook in
// one file — topology (Setup), then phases (baseline, fault, fix, recovery)
// whose symptoms are asserted (Run) — plus its story and lesson.
//
// Execute runs one scenario on a lab without Ginkgo and returns its evidence;
// the Ginkgo suite (scenarios_test.go) and `chaoslab lab up` are thin wrappers
// around it.
package scenarios

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/onsi/ginkgo/v2/types"

	"github.com/chaoslab/chaoslab/lab"
)

// Play is one run of a scenario. Setup builds the topology and registers the
// diagnosis commands; Run drives the phases. A fresh Play per run keeps the
// handles Setup makes (upstreams, gateway) as fields for Run.
type Play interface {
	Setup(s *S)
	Run(s *S)
}

// Scenario is one catalog entry.
type Scenario struct {
	ID      string // "family/name", e.g. "faults/latency-injection"
	Title   string
	Symptom string // the one line that is asserted
	Story   string // the production incident it reproduces (paragraphs split by blank lines)
	Lesson  string // how to recognise and fix it
	Labels  []string
	Needs   []lab.Capability // skipped with a reason on a backend without them
	// NeedsCluster, when set, says the scenario needs a Kubernetes cluster.
	NeedsCluster bool
	// RunsAlone, when set, says why the scenario's verdict depends on having
	// the CPU to itself (it compares handshake costs or latency increases a
	// busy core would inflate): the parallel catalog runs it after the
	// others, alone, instead of loosening its margin.
	RunsAlone string
	New       func() Play
}

// Family is the part of the ID before the slash.
func (sc Scenario) Family() string { f, _, _ := strings.Cut(sc.ID, "/"); return f }

// Name is the part of the ID after the slash.
func (sc Scenario) Name() string { _, n, _ := strings.Cut(sc.ID, "/"); return n }

// AllLabels are the Ginkgo labels: the family, the name and any extra ones.
func (sc Scenario) AllLabels() []string {
	return append([]string{sc.Family(), sc.Name()}, sc.Labels...)
}

var (
	catalogMu sync.Mutex
	catalog   = map[string]Scenario{}
)

// Register adds a scenario; a bad or duplicate entry is a programming error.
func Register(sc Scenario) {
	catalogMu.Lock()
	defer catalogMu.Unlock()
	switch {
	case !strings.Contains(sc.ID, "/"):
		panic(fmt.Sprintf("scenario %q: ID must be family/name", sc.ID))
	case sc.New == nil || sc.Symptom == "":
		panic(fmt.Sprintf("scenario %q: New and Symptom are required", sc.ID))
	}
	if _, dup := catalog[sc.ID]; dup {
		panic(fmt.Sprintf("scenario %q registered twice", sc.ID))
	}
	for _, l := range sc.AllLabels() {
		if strings.ContainsAny(l, "&|!,()/ :") {
			panic(fmt.Sprintf("scenario %q: label %q has a character Ginkgo label filters reserve", sc.ID, l))
		}
	}
	catalog[sc.ID] = sc
}

// All returns the catalog sorted by ID.
func All() []Scenario {
	catalogMu.Lock()
	defer catalogMu.Unlock()
	out := make([]Scenario, 0, len(catalog))
	for _, sc := range catalog {
		out = append(out, sc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Lookup finds a scenario by ID.
func Lookup(id string) (Scenario, error) {
	catalogMu.Lock()
	sc, ok := catalog[id]
	catalogMu.Unlock()
	if !ok {
		var ids []string
		for _, s := range All() {
			ids = append(ids, s.ID)
		}
		return Scenario{}, fmt.Errorf("unknown scenario %q: valid scenarios are %s", id, strings.Join(ids, ", "))
	}
	return sc, nil
}

// Labels lists every label in the catalog, sorted.
func Labels() []string {
	seen := map[string]bool{}
	for _, sc := range All() {
		for _, l := range sc.AllLabels() {
			seen[l] = true
		}
	}
	out := make([]string, 0, len(seen))
	for l := range seen {
		out = append(out, l)
	}
	sort.Strings(out)
	return out
}

// CheckLabelFilter verifies that every label a Ginkgo label filter names is
// in the catalog, so a typo is an error listing the valid labels instead of
// a green run of zero scenarios.
func CheckLabelFilter(filter string) error {
	known := map[string]bool{}
	for _, l := range Labels() {
		known[l] = true
	}
	var unknown []string
	for _, tok := range strings.FieldsFunc(filter, func(r rune) bool { return strings.ContainsRune("&|!,() \t", r) }) {
		if !known[tok] {
			unknown = append(unknown, tok)
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("unknown scenario label %s in %q: valid labels are %s",
			strings.Join(quote(unknown), ", "), filter, strings.Join(Labels(), ", "))
	}
	return nil
}

// SelectsCluster reports whether the Ginkgo label filter selects a scenario
// that needs a cluster (an empty filter selects every scenario). A filter
// Ginkgo cannot parse counts as selecting one: the run then fails on it.
func SelectsCluster(filter string) bool {
	match, err := types.ParseLabelFilter(filter)
	if err != nil {
		return true
	}
	for _, sc := range All() {
		if sc.NeedsCluster && match(sc.AllLabels()) {
			return true
		}
	}
	return false
}

func quote(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}
