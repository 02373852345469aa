package scenarios

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/chaoslab/chaoslab/internal/listeners"
	"github.com/chaoslab/chaoslab/lab"
	"github.com/chaoslab/chaoslab/lab/cluster"
	"github.com/chaoslab/chaoslab/lab/docker"
	"github.com/chaoslab/chaoslab/reports"
)

// Options configure one Execute.
type Options struct {
	Backend string // lab backend name; default embedded
	Dir     string // parent of the lab's working directory; default the OS temp dir
	// HoldAfter, when set to a phase name, stops after that phase and keeps
	// the lab up until ctx is cancelled: a trainee pokes at the fault by hand.
	HoldAfter string
	// Progress, when set, receives one line per phase and the commands.
	Progress io.Writer
	// Cluster is the cluster provider for scenarios that need one (kwok,
	// kind, existing); "" means none, and those scenarios are skipped with
	// the command that enables them.
	Cluster string
	// Drill, when set, plays the scenario as a trainee's drill: see Session.
	Drill *Session
	// SharedCluster, when set, is the run's cluster (of provider Cluster):
	// the scenario gets a namespace of it (a tenant) instead of starting its
	// own control plane, and its lab's Close deletes that namespace and puts
	// back what the scenario changed on the cluster.
	SharedCluster *cluster.Cluster
	// OnPhase, when set, is called as each phase starts, with the phase's
	// name and the lab: a test hook (kill a component during a phase).
	OnPhase func(phase string, l *lab.Lab)
}

// failure is what S.fail panics with; Execute recovers it.
type failure struct{ msg, loc string }

// skip is what S.Skip panics with.
type skip struct{ reason string }

// hold is what a held phase panics with once ctx is done.
type hold struct{}

// Execute runs one scenario on a fresh lab and returns its evidence. The lab
// is closed whatever happens: pass, failed assertion, skip, panic or cancel.
func Execute(ctx context.Context, sc Scenario, o Options) (res *reports.Scenario) {
	if o.Backend == "" {
		o.Backend = lab.DefaultBackend
	}
	res = &reports.Scenario{ID: sc.ID, Family: sc.Family(), Title: sc.Title, Symptom: sc.Symptom,
		Story: sc.Story, Lesson: sc.Lesson, Labels: sc.AllLabels(), Backend: o.Backend,
		StartedAt: time.Now(), Phases: []*reports.Phase{}}
	// A component that dies cancels the run (death.go): nothing waits on it.
	ctx, cancelRun := context.WithCancelCause(ctx)
	defer cancelRun(nil)
	s := &S{Ctx: ctx, rec: res, opts: o}
	stopWatch := func() {}
	defer func() { stopWatch() }()
	defer func() {
		if s.Lab != nil {
			for _, e := range s.Lab.Events() {
				res.Timeline = append(res.Timeline, reports.Event(e))
			}
			if err := s.Lab.Close(); err != nil && res.Verdict == reports.Passed {
				res.Verdict, res.Reason = reports.Failed, "tearing the lab down: "+err.Error()
			}
		}
		res.Commands = s.cmds
		res.Duration = time.Since(res.StartedAt)
	}()
	defer func() {
		r := recover()
		s.endPhase()
		switch v := r.(type) {
		case nil:
			res.Verdict = reports.Passed
			if err := ctx.Err(); err != nil {
				res.Verdict, res.Reason = reports.Failed, "interrupted: "+err.Error()
			}
		case failure:
			res.Verdict, res.Reason, res.Location = reports.Failed, v.msg, v.loc
		case skip:
			res.Verdict, res.Reason = reports.Skipped, v.reason
		case hold:
			res.Verdict, res.Reason = reports.Skipped, "held after phase "+o.HoldAfter+" for a trainee, then stopped"
		default:
			res.Verdict = reports.Failed
			res.Reason = fmt.Sprintf("scenario code panicked: %v\n%s", v, debug.Stack())
		}
		s.blameDeaths(res)
	}()

	l, err := lab.New(ctx, lab.WithBackend(o.Backend), lab.WithDir(o.Dir))
	if errors.Is(err, docker.ErrUnavailable) {
		s.Skip(err.Error()) // says what to run: never a silent pass
	}
	if err != nil {
		s.Failf("starting the lab: %v", err)
	}
	s.Lab = l
	stopWatch = s.watchDeaths(cancelRun)
	for _, c := range sc.Needs {
		if !l.Backend().Has(c) {
			s.Skip(fmt.Sprintf("backend %s cannot provide %s", o.Backend, c))
		}
	}
	if sc.NeedsCluster {
		var (
			c           *cluster.Cluster
			unavailable string
			err         error
		)
		if o.SharedCluster != nil {
			c, unavailable, err = l.ClusterTenant(ctx, o.SharedCluster, tenantNamespace(sc))
			s.Must(err, "taking a namespace of the shared cluster")
		} else {
			c, unavailable, err = l.Cluster(ctx, o.Cluster)
			s.Must(err, "starting the cluster")
		}
		if unavailable != "" {
			s.Skip(unavailable)
		}
		s.Cluster = c
		res.Cluster = c.Provider
	}
	play := sc.New()
	if o.Drill != nil {
		o.Drill.play = play
	}
	s.Phase("setup", "start the topology", func() {
		play.Setup(s)
		s.printCommands()
		s.checkListeners()
	})
	play.Run(s)
	return res
}

// tenantNamespace is a scenario's namespace on a shared cluster: its name
// (readable in kubectl) and a suffix, so a rerun never meets a namespace
// still terminating.
func tenantNamespace(sc Scenario) string {
	return fmt.Sprintf("%.50s-%04d", sc.Name(), time.Now().UnixNano()/1000%10000)
}

// checkListeners fails the scenario if this process or a process it started
// (real Kong, a control plane) listens anywhere but loopback in this
// process's network namespace: lab servers bind 127.0.0.1, so nothing of a
// lab is reachable from another machine. Sockets inside a network namespace
// the run created (the node provider's kubelet on its node IP, with no
// uplink) are counted, not failed. Containers are not in this process tree;
// the docker backend publishes their ports on 127.0.0.1.
func (s *S) checkListeners() {
	self := os.Getpid()
	socks, err := listeners.Of(append([]int{self}, listeners.Descendants(self)...)...)
	if err != nil {
		s.Note("listeners not checked: " + err.Error())
		return
	}
	var open []string
	inner := 0
	for _, sk := range socks {
		switch {
		case sk.Reachable():
			open = append(open, sk.String())
		case !sk.Loopback():
			inner++
		}
	}
	s.Measure("listening sockets of the lab's processes", float64(len(socks)), "",
		fmt.Sprintf("every one on 127.0.0.1 or ::1, or inside the run's own network namespace (%d)", inner))
	if len(open) > 0 {
		s.Failf("the lab listens off loopback: %s (lab servers must bind 127.0.0.1)", strings.Join(open, ", "))
	}
}

// S is a running scenario: the lab, the current phase, and the recording of
// every load, assertion and measurement for the report.
type S struct {
	Ctx context.Context
	Lab *lab.Lab
	// Cluster is set for scenarios with NeedsCluster.
	Cluster *cluster.Cluster
	rec     *reports.Scenario
	opts    Options
	cur     *reports.Phase
	cmds    []reports.Command
}

// Phase runs fn as a named phase. Loads, assertions and measurements made in
// fn are recorded under it.
func (s *S) Phase(name, description string, fn func()) {
	if s.opts.Drill != nil && s.opts.Drill.intercept(s, name, description, fn) {
		return
	}
	s.endPhase()
	s.cur = &reports.Phase{Name: name, Description: description, StartedAt: time.Now(), Assertions: []reports.Assertion{}}
	s.rec.Phases = append(s.rec.Phases, s.cur)
	s.progress("phase %s: %s", name, description)
	if s.opts.OnPhase != nil {
		s.opts.OnPhase(name, s.Lab)
	}
	fn()
	if err := s.Ctx.Err(); err != nil {
		s.Failf("interrupted during phase %s: %v", name, err)
	}
	s.endPhase()
	if s.opts.HoldAfter == name {
		s.progress("holding after phase %s: the lab stays up until Ctrl-C", name)
		<-s.Ctx.Done()
		panic(hold{})
	}
}

func (s *S) endPhase() {
	if s.cur != nil && s.cur.EndedAt.IsZero() {
		s.cur.EndedAt = time.Now()
	}
}

func (s *S) phase() *reports.Phase {
	if s.cur == nil {
		s.Phase("main", "", func() {})
		s.cur.EndedAt = time.Time{}
	}
	return s.cur
}

// Command adds a diagnosis command, filled in with the lab's real addresses,
// to the lesson ("Try it yourself").
func (s *S) Command(title, cmd string) {
	s.cmds = append(s.cmds, reports.Command{Title: title, Cmd: cmd})
}

func (s *S) printCommands() {
	for _, c := range s.cmds {
		s.progress("  # %s\n  %s", c.Title, c.Cmd)
	}
}

func (s *S) progress(format string, args ...any) {
	if s.opts.Progress != nil {
		fmt.Fprintf(s.opts.Progress, format+"\n", args...)
	}
}

// Measure records a number for the report.
func (s *S) Measure(name string, value float64, unit, note string) {
	p := s.phase()
	p.Measurements = append(p.Measurements, reports.Measurement{Name: name, Value: value, Unit: unit, Note: note})
}

// Series records a time series (replicas, calls per request) for the report.
func (s *S) Series(name, unit string, points []reports.Point) {
	p := s.phase()
	p.Series = append(p.Series, reports.Series{Name: name, Unit: unit, Points: points})
}

// Log attaches log lines (the gateway's error log, the proxy's connections).
func (s *S) Log(source string, lines []string) {
	const keep = 200
	if len(lines) > keep {
		lines = append([]string{fmt.Sprintf("... %d earlier lines", len(lines)-keep)}, lines[len(lines)-keep:]...)
	}
	p := s.phase()
	p.Logs = append(p.Logs, reports.Log{Source: source, Lines: lines})
}

// Note adds an event to the timeline.
func (s *S) Note(detail string) { s.Lab.Record("note", "scenario", detail) }

// Must fails the scenario when err is not nil. what says what was being done.
func (s *S) Must(err error, what string) {
	if err != nil {
		s.failAt(fmt.Sprintf("%s: %v", what, err), 2)
	}
}

// Failf fails the scenario.
func (s *S) Failf(format string, args ...any) { s.failAt(fmt.Sprintf(format, args...), 2) }

// Skip ends the scenario as skipped, with a one-line reason that says what
// to install or run.
func (s *S) Skip(reason string) { panic(skip{reason}) }

func (s *S) failAt(msg string, skipFrames int) {
	panic(failure{msg: msg, loc: caller(skipFrames + 1)})
}

func caller(skip int) string {
	_, file, line, ok := runtime.Caller(skip + 1)
	if !ok {
		return ""
	}
	return fmt.Sprintf("%s:%d", filepath.Join(filepath.Base(filepath.Dir(file)), filepath.Base(file)), line)
}

// Sleep waits d or until the run is cancelled. Scenarios use it only for
// what is genuinely time-based (a stabilisation window), never for readiness.
func (s *S) Sleep(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.Ctx.Done():
		s.failAt("interrupted: "+s.Ctx.Err().Error(), 1)
	}
}

// Eventually polls check every interval until it returns nil or within
// elapses; then it fails the scenario with the last error. It is how a
// scenario waits for a state (a target marked unhealthy, pods Running).
func (s *S) Eventually(what string, within, interval time.Duration, check func() error) {
	deadline := time.Now().Add(within)
	var last error
	for {
		if last = check(); last == nil {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		t := time.NewTimer(interval)
		select {
		case <-t.C:
		case <-s.Ctx.Done():
			t.Stop()
			s.failAt(fmt.Sprintf("interrupted waiting for %s: %v", what, errors.Join(last, s.Ctx.Err())), 1)
		}
	}
	s.failAt(fmt.Sprintf("%s did not happen within %s: %v", what, within, last), 1)
}

func trimLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = append(lines[:n], "...")
	}
	return strings.Join(lines, "\n")
}
