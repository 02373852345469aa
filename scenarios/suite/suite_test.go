// Package suite runs the scenario catalog under Ginkgo: one spec per
// scenario, labelled by family and name, so `make scenario SCENARIO=faults`
// is a Ginkgo label filter. It writes results.json and index.html beside
// Ginkgo's junit.xml in CHAOSLAB_REPORT_DIR.
package suite

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	. "github.com/onsi/gomega"

	"github.com/chaoslab/chaoslab/lab"
	"github.com/chaoslab/chaoslab/lab/cluster"
	"github.com/chaoslab/chaoslab/reports"
	"github.com/chaoslab/chaoslab/scenarios"
)

func TestScenarios(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "chaoslab scenarios")
}

var (
	backend   = envOr("CHAOSLAB_BACKEND", lab.DefaultBackend)
	reportDir = envOr("CHAOSLAB_REPORT_DIR", filepath.Join(os.TempDir(), "chaoslab-report"))
	clusterOf = lab.DefaultCluster()
	started   = time.Now()
)

func envOr(k, d string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return d
}

// checkRun rejects a bad backend or label filter before anything starts.
func checkRun() {
	if !slices.Contains(lab.Backends(), backend) {
		Fail(fmt.Sprintf("unknown backend %q: valid backends are %s", backend, strings.Join(lab.Backends(), ", ")))
	}
	if err := scenarios.CheckLabelFilter(GinkgoLabelFilter()); err != nil {
		Fail(err.Error())
	}
}

// One cluster per run: process 1 starts it before any spec when the label
// filter selects a scenario that needs one, and deletes it after every
// process is done (Ginkgo runs SynchronizedAfterSuite also after failures
// and on Ctrl-C); each scenario takes a namespace of it. The other parallel
// processes attach to a kwok cluster; a node cluster (its kubelet,
// containerd and relay live in process 1) is used by process 1 only, where
// the cluster scenarios then run (Serial).
var (
	sharedCluster *cluster.Cluster // this process's handle; nil: none
	ownsShared    bool             // process 1 made it and deletes it
)

var _ = SynchronizedBeforeSuite(func(ctx SpecContext) []byte {
	checkRun()
	// Evidence of an earlier run must not leak into this one's report.
	Expect(os.RemoveAll(filepath.Join(reportDir, "scenarios"))).To(Succeed())
	Expect(os.MkdirAll(filepath.Join(reportDir, "scenarios"), 0o755)).To(Succeed())
	if clusterOf == "" || !scenarios.SelectsCluster(GinkgoLabelFilter()) {
		return nil
	}
	if !slices.Contains(sharedProviders, clusterOf) {
		return nil // kind, existing: each scenario makes or attaches its own
	}
	t0 := time.Now()
	c, unavailable, err := lab.SharedCluster(ctx, clusterOf)
	if err != nil {
		Fail("starting the run's shared cluster: " + err.Error())
	}
	if unavailable != "" {
		return nil // each cluster scenario skips with the reason
	}
	sharedCluster, ownsShared = c, true
	GinkgoWriter.Printf("chaoslab: shared %s cluster %s up in %s (%s)\n", clusterOf, c.Name, time.Since(t0).Round(time.Millisecond), c.Dir)
	b, err := json.Marshal(c.Info())
	Expect(err).NotTo(HaveOccurred())
	return b
}, func(data []byte) {
	checkRun()
	if len(data) == 0 || ownsShared {
		return
	}
	var info cluster.SharedInfo
	Expect(json.Unmarshal(data, &info)).To(Succeed())
	if info.Provider != "kwok" {
		return
	}
	c, err := cluster.Attach(info)
	if err != nil {
		Fail(err.Error())
	}
	sharedCluster = c
}, NodeTimeout(3*time.Minute))

var _ = SynchronizedAfterSuite(func() {}, func() {
	if ownsShared && sharedCluster != nil {
		Expect(sharedCluster.Delete(context.Background())).To(Succeed(), "deleting the run's shared cluster")
	}
})

// sharedProviders are the providers whose cluster a run shares: the ones the
// lab starts itself.
var sharedProviders = []string{"kwok", "node"}

var _ = Describe("catalog", func() {
	for _, sc := range scenarios.All() {
		decorators := []any{Label(sc.AllLabels()...), NodeTimeout(5 * time.Minute)}
		if sc.RunsAlone != "" || sc.NeedsCluster && clusterOf != "kwok" {
			// Ginkgo runs Serial specs after every parallel one, on one
			// process: their measured phases never overlap other scenarios.
			// Cluster scenarios on kwok run in parallel, each in its own
			// namespace with its own simulated nodes of the shared cluster;
			// on a real node (one kubelet, real CPU) they take turns.
			decorators = append(decorators, Serial)
		}
		It(sc.ID, append(decorators, func(ctx SpecContext) {
			res := scenarios.Execute(ctx, sc, scenarios.Options{Backend: backend, Cluster: clusterOf, SharedCluster: sharedCluster, Progress: GinkgoWriter})
			save(res)
			switch res.Verdict {
			case reports.Skipped:
				Skip(res.Reason)
			case reports.Failed:
				Fail(res.Reason + "\nat " + res.Location)
			}
		})...)
	}
})

// progress appends one line per finished scenario to CHAOSLAB_PROGRESS, the
// file scripts/catalog.sh shows as the run goes: parallel Ginkgo processes
// cannot write to the terminal themselves. O_APPEND keeps lines whole.
var _ = ReportAfterEach(func(spec SpecReport) {
	path := os.Getenv("CHAOSLAB_PROGRESS")
	if path == "" || spec.State == types.SpecStateSkipped && load(spec.LeafNodeText) == nil {
		return // no progress file, or filtered out by the label filter
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = fmt.Fprintln(f, progressLine(spec))
})

// progressLine is "PASS  gateway/504-slow-upstream  3.2s" plus, for a
// failure or a skip, the first line of the reason.
func progressLine(spec SpecReport) string {
	verdict, why := "PASS", ""
	switch {
	case spec.State == types.SpecStateSkipped:
		verdict, why = "SKIP", spec.Failure.Message
	case spec.State.Is(types.SpecStateFailureStates):
		verdict, why = "FAIL", spec.Failure.Message
	}
	if res := load(spec.LeafNodeText); res != nil && res.Reason != "" {
		why = res.Reason
	}
	why, _, _ = strings.Cut(why, "\n")
	line := fmt.Sprintf("%-4s  %-48s %6.1fs", verdict, spec.LeafNodeText, spec.RunTime.Seconds())
	if why != "" {
		line += "  " + why
	}
	return line
}

// save writes one scenario's evidence to its own file, so parallel Ginkgo
// processes never share state; ReportAfterSuite merges them.
func save(res *reports.Scenario) {
	b, err := json.MarshalIndent(res, "", "  ")
	Expect(err).NotTo(HaveOccurred())
	name := strings.ReplaceAll(res.ID, "/", "__") + ".json"
	Expect(os.WriteFile(filepath.Join(reportDir, "scenarios", name), b, 0o644)).To(Succeed())
}

var _ = ReportAfterSuite("chaoslab results.json and index.html", func(r Report) {
	run := &reports.Run{SchemaVersion: reports.SchemaVersion, Tool: "chaoslab", StartedAt: started,
		FinishedAt: time.Now(), Backend: backend, Scenarios: []*reports.Scenario{}}
	host, _ := os.Hostname()
	run.Host = reports.Host{OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), Hostname: host}
	for _, spec := range r.SpecReports {
		if spec.LeafNodeType != types.NodeTypeIt {
			continue
		}
		res := load(spec.LeafNodeText)
		if res == nil && spec.State == types.SpecStateSkipped {
			continue // filtered out by the label filter
		}
		if res == nil { // never reached Execute: interrupted or failed before
			res = &reports.Scenario{ID: spec.LeafNodeText, Verdict: reports.Failed, Reason: spec.Failure.Message,
				StartedAt: spec.StartTime, Duration: spec.RunTime, Backend: backend}
		}
		run.Scenarios = append(run.Scenarios, res)
	}
	sort.Slice(run.Scenarios, func(i, j int) bool { return run.Scenarios[i].ID < run.Scenarios[j].ID })
	Expect(run.WriteJSON(filepath.Join(reportDir, "results.json"))).To(Succeed())
	Expect(run.WriteHTMLFile(filepath.Join(reportDir, "index.html"))).To(Succeed())
	p, f, s := run.Counts()
	fmt.Printf("\nchaoslab: %d passed, %d failed, %d skipped — report: %s\n", p, f, s, filepath.Join(reportDir, "index.html"))
})

func load(id string) *reports.Scenario {
	b, err := os.ReadFile(filepath.Join(reportDir, "scenarios", strings.ReplaceAll(id, "/", "__")+".json"))
	if err != nil {
		return nil
	}
	var res reports.Scenario
	if json.Unmarshal(b, &res) != nil {
		return nil
	}
	return &res
}
