// Package soak runs a lab for a long time under load and proves its
// resources stay flat: `make soak DURATION=10m [GATEWAY=kong]`. Not part of
// `make test` (it takes the DURATION it is given).
//
// Topology: the gateway (the emulation, or real Kong with GATEWAY=kong) in
// front of an upstream behind a fault proxy whose latency fault is toggled
// every few seconds; the TLS-inspecting proxy in front of a TLS upstream; the
// instrumented app fetching credentials from the fake metadata service.
// Load: 1,000 req/s through the gateway, plus 50 req/s through the proxy and
// 20 req/s to the app, in 10 s rounds; between rounds (nothing in flight)
// it samples RSS, open files and listening sockets of every lab process
// (this one and real Kong's), and this process's goroutines.
//
// Pass: no resource of any lab process grows by more than 10% from the
// second quarter of the run to the last, judged by each quarter's floor (its
// lowest reading), and every request sent has an outcome recorded. Why the
// floor: a leak keeps what it took, so everything it took by the start of the
// last quarter is in every reading of that quarter, including the lowest; a
// bounded pool grows and drains, so it moves a quarter's median and peak
// but not its floor. The gateway's upstream keepalive pool does exactly that
// (up to 512 idle per peer, 60 s idle timeout, as Kong's): two 10-minute
// runs had open files at 220 and 248 by the quarters' medians (1.13x) with
// equal maxima, and one ended with ~250 pooled connections for its last 30
// s. On a busy machine bursts can also follow each other through a whole
// last quarter, keeping the pool full: a resource also passes when the last
// quarter stays within 10% of a level it reached earlier in the run and came
// back down from (a leak gives nothing back). The medians, maxima and the
// second half's Theil-Sen trend are reported next to the floors. The report (results.json, index.html) goes to
// CHAOSLAB_REPORT_DIR (make soak: reports/soak).
package soak

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/onsi/gomega"

	"github.com/chaoslab/chaoslab/fakes/app"
	"github.com/chaoslab/chaoslab/fakes/imds"
	"github.com/chaoslab/chaoslab/fakes/mitm"
	"github.com/chaoslab/chaoslab/fakes/pki"
	"github.com/chaoslab/chaoslab/fakes/upstream"
	"github.com/chaoslab/chaoslab/internal/listeners"
	"github.com/chaoslab/chaoslab/lab"
	"github.com/chaoslab/chaoslab/load"
	"github.com/chaoslab/chaoslab/reports"
	"github.com/chaoslab/chaoslab/scenarios"
)

const (
	round       = 10 * time.Second // one load round; resources are sampled between rounds
	gatewayRate = 1000.0           // requests/s through the gateway
	proxyRate   = 50.0             // through the TLS-inspecting proxy (new connection each)
	appRate     = 20.0             // to the app (credentials from the metadata service)
	toggleEvery = 3 * time.Second  // the fault proxy's latency fault goes on or off
	maxGrowth   = 1.10             // last quarter's floor over the second quarter's
)

func TestSoak(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("CHAOSLAB_SOAK_DURATION"))
	if err != nil || d < 4*round {
		t.Skip("the soak runs with make soak DURATION=10m (at least 40s)")
	}
	dir := os.Getenv("CHAOSLAB_REPORT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sc := scenarios.Scenario{ID: "soak/lab-under-load", Title: "A lab under load for " + d.String(),
		Symptom: fmt.Sprintf("no resource of any lab process grows by more than %.0f%% between the second and the last quarter; every request has an outcome", (maxGrowth-1)*100),
		New:     func() scenarios.Play { return &soak{d: d, dir: dir} }}
	res := scenarios.Execute(context.Background(), sc, scenarios.Options{Backend: lab.DefaultBackend, Progress: os.Stderr})
	host, _ := os.Hostname()
	run := &reports.Run{SchemaVersion: reports.SchemaVersion, Tool: "chaoslab soak", StartedAt: res.StartedAt,
		FinishedAt: time.Now(), Backend: lab.DefaultBackend, Scenarios: []*reports.Scenario{res},
		Host: reports.Host{OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), Hostname: host}}
	if err := run.WriteJSON(filepath.Join(dir, "results.json")); err != nil {
		t.Fatal(err)
	}
	if err := run.WriteHTMLFile(filepath.Join(dir, "index.html")); err != nil {
		t.Fatal(err)
	}
	t.Logf("report: %s", filepath.Join(dir, "index.html"))
	if res.Verdict != reports.Passed {
		t.Fatalf("%s: %s", res.Verdict, res.Reason)
	}
}

type soak struct {
	d       time.Duration
	dir     string // the report's directory: heap profiles go there too
	up      *lab.Upstream
	gw      *lab.Gateway
	tlsUp   *lab.Upstream
	proxy   *lab.MITM
	app     *lab.App
	trusted *x509.CertPool
}

func (x *soak) Setup(s *scenarios.S) {
	var err error
	x.up, err = s.Lab.Upstream(s.Ctx, "orders", upstream.Config{})
	s.Must(err, "the upstream")
	x.gw, err = s.Lab.Gateway(s.Ctx, "_format_version: \"3.0\"\nservices:\n- name: orders\n  url: "+x.up.URL()+
		"\n  routes:\n  - name: orders\n    paths: [/orders]\n")
	if lab.IsRealKongNotBuilt(err) {
		s.Skip(err.Error())
	}
	s.Must(err, "the gateway")
	x.tlsUp, err = s.Lab.Upstream(s.Ctx, "api", upstream.Config{TLSFlags: pki.ServerTLSFlags{Enabled: true}})
	s.Must(err, "the TLS upstream")
	x.proxy, err = s.Lab.MITM(s.Ctx, "mitm", mitm.Config{UpstreamCAFile: x.tlsUp.CAPath()})
	s.Must(err, "the TLS-inspecting proxy")
	pem, err := os.ReadFile(x.proxy.CAPath())
	s.Must(err, "the proxy's root")
	x.trusted = x509.NewCertPool()
	x.trusted.AppendCertsFromPEM(pem)
	md, err := s.Lab.IMDS(s.Ctx, imds.Config{TTL: time.Minute})
	s.Must(err, "the metadata service")
	dep, err := s.Lab.Upstream(s.Ctx, "es", upstream.Config{})
	s.Must(err, "the app's dependency")
	x.app, err = s.Lab.App(s.Ctx, app.Config{IMDSEndpoint: md.URL(), DependencyURL: dep.URL()})
	s.Must(err, "the app")
}

// sample is one reading of every lab process between rounds.
type sample struct {
	at        time.Time
	procs     map[string]procSample // by process name (see procName)
	goroutine float64               // of the test process
	heap      float64               // the test process's Go heap in use, MiB
	stacks    float64               // its goroutine stacks, MiB
}

// procSample is one process's resources.
type procSample struct{ rss, fds, socks float64 }

func (x *soak) Run(s *scenarios.S) {
	var samples []sample
	var results, outcomes, expected int
	s.Phase("soak", fmt.Sprintf("%s of load in %s rounds, the latency fault toggled every %s", x.d, round, toggleEvery), func() {
		stop := x.toggleFaults(s)
		defer stop()
		samples = append(samples, x.sample())
		rounds := int((x.d + round - 1) / round)
		for end := time.Now().Add(x.d); time.Now().Before(end); {
			n, o, e := x.round(s)
			results, outcomes, expected = results+n, outcomes+o, expected+e
			samples = append(samples, x.sample())
			if i := len(samples) - 1; i%max(rounds/4, 1) == 0 && i/max(rounds/4, 1) <= 4 {
				x.heapProfile(s, fmt.Sprintf("heap-q%d.pb.gz", i/max(rounds/4, 1)))
			}
		}
	})
	s.Phase("verdict", "flat resources and no request without an outcome", func() {
		type check struct {
			what     string
			v        func(sample) (float64, bool)
			q2, q4   quarterStats
			trend    float64
			released float64
		}
		var checks []check
		for _, name := range procNames(samples) {
			for _, r := range []struct {
				what, unit string
				v          func(procSample) float64
			}{{"RSS", "MiB", func(p procSample) float64 { return p.rss }},
				{"open files", "", func(p procSample) float64 { return p.fds }},
				{"listening sockets", "", func(p procSample) float64 { return p.socks }}} {
				v := func(sm sample) (float64, bool) { p, ok := sm.procs[name]; return r.v(p), ok }
				checks = append(checks, check{what: r.what + " of " + name, v: v})
				s.Series(r.what+" of "+name, r.unit, points(samples, v))
			}
		}
		// Where the test process's RSS goes (reported, not judged: RSS is).
		s.Series("Go heap in use of the test process", "MiB", points(samples, func(sm sample) (float64, bool) { return sm.heap, true }))
		s.Series("goroutine stacks of the test process", "MiB", points(samples, func(sm sample) (float64, bool) { return sm.stacks, true }))
		gr := func(sm sample) (float64, bool) { return sm.goroutine, true }
		checks = append(checks, check{what: "goroutines of the test process", v: gr})
		s.Series("goroutines of the test process", "", points(samples, gr))
		for i := range checks {
			c := &checks[i]
			c.q2, c.q4 = quarter(samples, 1, c.v), quarter(samples, 3, c.v)
			c.trend = trendGrowth(samples, c.v)
			c.released = released(samples, c.v, c.q2.min*maxGrowth)
			s.Measure(c.what+": last quarter / second quarter (floors)", ratio(c.q4.min, c.q2.min), "x",
				fmt.Sprintf("floors %.1f / %.1f; medians %.1f / %.1f; maxima %.1f / %.1f; second-half trend %+.1f%% over two quarters; highest level released before the last quarter %.1f",
					c.q4.min, c.q2.min, c.q4.median, c.q2.median, c.q4.max, c.q2.max, c.trend*100, c.released))
		}
		s.Measure("requests sent / with an outcome", float64(results), "", fmt.Sprintf("%d with an outcome, %d scheduled", outcomes, expected))
		for _, c := range checks {
			flat := c.q4.min <= c.q2.min*maxGrowth
			bounded := c.q4.max <= c.released*maxGrowth
			s.Expect(flat || bounded, fmt.Sprintf("%s stays flat: the last quarter's floor (%.1f) within 10%% of the second's (%.1f), "+
				"or the last quarter (max %.1f) within 10%% of a level it came back down from earlier (%.1f)",
				c.what, c.q4.min, c.q2.min, c.q4.max, c.released)).To(gomega.BeTrue())
		}
		s.Expect(outcomes, "every request has an outcome (a status or an error kind)").To(gomega.Equal(results))
		s.Expect(float64(results), "the load was sent (>= 99% of what was scheduled)").
			To(gomega.BeNumerically(">=", 0.99*float64(expected)))
	})
}

func points(samples []sample, v func(sample) (float64, bool)) []reports.Point {
	var pts []reports.Point
	for _, sm := range samples {
		if val, ok := v(sm); ok {
			pts = append(pts, reports.Point{Time: sm.at, Value: val})
		}
	}
	return pts
}

func ratio(a, b float64) float64 {
	if b == 0 {
		if a == 0 {
			return 1
		}
		return a
	}
	return a / b
}

// round is one 10 s round of the three loads at once; it returns the
// results recorded, those with an outcome, and the requests scheduled.
func (x *soak) round(s *scenarios.S) (results, outcomes, scheduled int) {
	type out struct {
		rs   load.Results
		name string
	}
	ch := make(chan out, 2)
	go func() {
		rs, _ := load.Run(s.Ctx, []load.Target{{Method: "GET", URL: "https://" + x.tlsUp.Addr() + "/"}}, load.Constant(proxyRate), round,
			load.WithProxy(x.proxy.ProxyURL), load.WithKeepAlive(false), load.WithTLSConfig(&tls.Config{RootCAs: x.trusted}))
		ch <- out{rs, "through the TLS-inspecting proxy"}
	}()
	go func() {
		rs, _ := load.Run(s.Ctx, []load.Target{{Method: "GET", URL: x.app.URL() + "/"}}, load.Constant(appRate), round)
		ch <- out{rs, "the app (credentials from the metadata service)"}
	}()
	gw, _ := load.Run(s.Ctx, []load.Target{{Method: "GET", URL: x.gw.ProxyURL() + "/orders"}}, load.Constant(gatewayRate), round)
	all := []out{{gw, "through the gateway"}, <-ch, <-ch}
	for _, o := range all {
		results += len(o.rs)
		for _, r := range o.rs {
			if r.Code > 0 || r.Error != "" {
				outcomes++
			}
		}
	}
	if err := s.Ctx.Err(); err != nil {
		s.Failf("interrupted: %v", err)
	}
	return results, outcomes, int((gatewayRate + proxyRate + appRate) * round.Seconds())
}

// toggleFaults puts the upstream's latency fault on and off until stopped.
func (x *soak) toggleFaults(s *scenarios.S) (stop func()) {
	ctx, cancel := context.WithCancel(s.Ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(toggleEvery)
		defer tick.Stop()
		var on *lab.Applied
		for {
			select {
			case <-ctx.Done():
				if on != nil {
					_ = x.up.Proxy.Remove(context.Background(), on)
				}
				return
			case <-tick.C:
			}
			if on == nil {
				on, _ = x.up.Proxy.Apply(ctx, lab.Latency{Latency: 20 * time.Millisecond})
			} else {
				_ = x.up.Proxy.Remove(ctx, on)
				on = nil
			}
		}
	}()
	return func() { cancel(); <-done }
}

// sample reads RSS, open files and listening sockets of this process and
// every process it started, and this process's goroutines.
//
// It first returns the memory Go has freed to the OS (debug.FreeOSMemory: a
// GC, then the free pages released): the test process's RSS then counts what
// it holds, not pages the runtime keeps after a burst for reuse, which would
// lift the RSS floor after any stall of this shared machine without a leak.
func (x *soak) sample() sample {
	debug.FreeOSMemory()
	self := os.Getpid()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	sm := sample{at: time.Now(), goroutine: float64(runtime.NumGoroutine()), procs: map[string]procSample{},
		heap: float64(ms.HeapInuse) / (1 << 20), stacks: float64(ms.StackInuse) / (1 << 20)}
	for _, pid := range append([]int{self}, listeners.Descendants(self)...) {
		var p procSample
		p.rss = rssMiB(pid)
		if ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd"); err == nil {
			p.fds = float64(len(ents))
		}
		if socks, err := listeners.Of(pid); err == nil {
			p.socks = float64(len(socks))
		}
		sm.procs[procName(pid, self)] = p
	}
	return sm
}

// heapProfile writes the test process's heap profile (after the sample's
// GC) to the report's directory, at the end of each quarter: what grew
// between two quarters is `go tool pprof -diff_base heap-q2.pb.gz heap-q4.pb.gz`.
func (x *soak) heapProfile(s *scenarios.S, name string) {
	f, err := os.Create(filepath.Join(x.dir, name))
	s.Must(err, "the heap profile")
	defer f.Close()
	s.Must(pprof.Lookup("heap").WriteTo(f, 0), "the heap profile "+name)
	s.Note(fmt.Sprintf("heap profile at %s: %s", time.Now().Format(time.TimeOnly), f.Name()))
}

// procName names a lab process for the report: "the test process", or its
// command line's first words and its pid ("nginx: worker process (1234)").
func procName(pid, self int) string {
	if pid == self {
		return "the test process"
	}
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	cmd := strings.Join(strings.Fields(strings.ReplaceAll(string(b), "\x00", " ")), " ")
	if len(cmd) > 40 {
		cmd = cmd[:40]
	}
	return fmt.Sprintf("%s (%d)", cmd, pid)
}

// procNames lists every process seen in samples, the test process first.
func procNames(samples []sample) []string {
	seen := map[string]bool{}
	var names []string
	for _, sm := range samples {
		for n := range sm.procs {
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	sort.Slice(names, func(i, j int) bool {
		if (names[i] == "the test process") != (names[j] == "the test process") {
			return names[i] == "the test process"
		}
		return names[i] < names[j]
	})
	return names
}

func rssMiB(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// quarterStats is the floor, median and maximum of one quarter's samples.
type quarterStats struct{ min, median, max float64 }

// quarter summarises v over the q-th quarter (0-based) of samples; samples
// in which v has no value (a process not running yet) are left out.
func quarter(samples []sample, q int, v func(sample) (float64, bool)) quarterStats {
	n := len(samples)
	lo, hi := q*n/4, min((q+1)*n/4, n)
	if hi <= lo {
		hi = min(lo+1, n)
	}
	var vals []float64
	for _, sm := range samples[lo:hi] {
		if val, ok := v(sm); ok {
			vals = append(vals, val)
		}
	}
	if len(vals) == 0 {
		return quarterStats{}
	}
	sort.Float64s(vals)
	m := len(vals) / 2
	med := vals[m]
	if len(vals)%2 == 0 {
		med = (vals[m-1] + vals[m]) / 2
	}
	return quarterStats{min: vals[0], median: med, max: vals[len(vals)-1]}
}

// released is the highest level v reached before the last quarter and then
// came back down from (to floor or below): a level a pool filled to and
// drained. A leak never gives back what it took; a pool that happens to
// stay full through the last quarter (bursts back to back on a busy
// machine) stays within such a level.
func released(samples []sample, v func(sample) (float64, bool), floor float64) float64 {
	var best, high float64
	for _, sm := range samples[:3*len(samples)/4] {
		val, ok := v(sm)
		if !ok {
			continue
		}
		if val <= floor && high > floor { // back down from a level above the floor
			best = max(best, high)
		}
		high = max(high, val)
	}
	return best
}

// trendGrowth is the Theil-Sen slope (the median of every pair's slope,
// robust to bursts) of v over the last three quarters, times the time from
// the second quarter's middle to the last's, over the second quarter's
// median: the growth a steady trend would make between the two quarters.
func trendGrowth(samples []sample, v func(sample) (float64, bool)) float64 {
	n := len(samples)
	type pt struct{ t, v float64 }
	var pts []pt
	for _, sm := range samples[n/4:] {
		if val, ok := v(sm); ok {
			pts = append(pts, pt{sm.at.Sub(samples[0].at).Seconds(), val})
		}
	}
	var slopes []float64
	for i := range pts {
		for j := i + 1; j < len(pts); j++ {
			if dt := pts[j].t - pts[i].t; dt > 0 {
				slopes = append(slopes, (pts[j].v-pts[i].v)/dt)
			}
		}
	}
	q2 := quarter(samples, 1, v)
	if len(slopes) == 0 || q2.median == 0 || n < 4 {
		return 0
	}
	sort.Float64s(slopes)
	mid := func(q int) float64 {
		lo, hi := q*n/4, min((q+1)*n/4, n)-1
		return (samples[lo].at.Sub(samples[0].at).Seconds() + samples[hi].at.Sub(samples[0].at).Seconds()) / 2
	}
	return slopes[len(slopes)/2] * (mid(3) - mid(1)) / q2.median
}
