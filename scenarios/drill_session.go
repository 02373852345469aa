package scenarios

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/chaoslab/chaoslab/load"
	"github.com/chaoslab/chaoslab/reports"
)

// Session plays a scenario as a drill (Options.Drill): the phases up to the
// fault run as usual; the fix phase is left to the trainee; at the recovery
// phase the scenario holds and serves the trainee's requests (check, set)
// on its own goroutine until ctx is done.
type Session struct {
	Drill Drill
	// LogDir receives the drill's log files (one per LogSource).
	LogDir string
	// Ready is called once, on the scenario's goroutine, when the fault is
	// live: the briefing.
	Ready func(Briefing)
	// Requests carries the trainee's check and set requests.
	Requests chan Request

	play Play
	s    *S
	bg   *backgroundLoad
	logs sync.WaitGroup
	n    int               // checks so far
	vals map[string]string // settings the trainee applied
}

// drillValue is the value the trainee set for a platform setting, "" when
// unset or not in a drill. Drill checks read it.
func (s *S) drillValue(key string) string {
	if s.opts.Drill == nil {
		return ""
	}
	return s.opts.Drill.vals[key]
}

// Briefing is what the trainee is told when the drill starts.
type Briefing struct {
	Ticket    string    `json:"ticket"`
	Addresses []Address `json:"addresses"`
	Logs      []string  `json:"logs"` // files in the drill's directory
	Settings  []string  `json:"settings,omitempty"`
	Gateway   string    `json:"gateway,omitempty"`
	Cluster   string    `json:"cluster,omitempty"`
}

// Request is one trainee request served on the scenario's goroutine.
type Request struct {
	Kind       string // "check" or "set"
	Key, Value string
	Reply      chan Reply
}

// Reply answers a Request.
type Reply struct {
	Err   string       `json:"error,omitempty"`
	Check *CheckResult `json:"check,omitempty"`
}

// CheckResult is the verdict of one check: the recovery phase's
// assertions as the report shows them.
type CheckResult struct {
	N            int                   `json:"n"`
	Passed       bool                  `json:"passed"`
	Reason       string                `json:"reason,omitempty"`
	Phase        string                `json:"phase"`
	Assertions   []reports.Assertion   `json:"assertions"`
	Measurements []reports.Measurement `json:"measurements,omitempty"`
	Loads        []*reports.Load       `json:"loads,omitempty"`
	At           time.Time             `json:"at"`
	Duration     time.Duration         `json:"duration_ns"`
}

// intercept is S.Phase's drill hook: true when the drill took the phase
// over.
func (d *Session) intercept(s *S, name, description string, fn func()) bool {
	switch name {
	case d.Drill.fixPhase():
		if d.s != nil { // a second fix phase: the drill already held
			return true
		}
		d.s = s
		s.endPhase()
		s.rec.Phases = append(s.rec.Phases, &reports.Phase{Name: name, Description: "left to the trainee (" + description + ")",
			StartedAt: time.Now(), EndedAt: time.Now(), Assertions: []reports.Assertion{}})
		d.brief(s)
		return true
	case d.Drill.recoveryPhase():
		if d.s == nil {
			return false
		}
		d.serve(s, description, fn)
		return true // not reached: serve ends in hold
	}
	return false
}

func (d *Session) brief(s *S) {
	b := Briefing{Ticket: d.Drill.Ticket, Gateway: s.rec.Gateway, Cluster: s.rec.Cluster}
	if d.Drill.Addresses != nil {
		b.Addresses = d.Drill.Addresses(d.play, s)
	}
	if s.Cluster != nil && s.Cluster.Kubeconfig != "" {
		b.Addresses = append(b.Addresses, Address{Var: "KUBECONFIG", Name: "the cluster's kubeconfig (kubectl --kubeconfig ...)", Value: s.Cluster.Kubeconfig})
	}
	if d.Drill.Logs != nil && d.LogDir != "" {
		srcs := d.Drill.Logs(d.play)
		for _, src := range srcs {
			b.Logs = append(b.Logs, filepath.Join(d.LogDir, src.Name))
		}
		d.copyLogs(s.Ctx, srcs)
	}
	for _, st := range d.Drill.Settings {
		b.Settings = append(b.Settings, st.Key+": "+st.Doc)
	}
	if d.Drill.Background != nil {
		if bg := d.Drill.Background(d.play); bg != nil && len(bg.Targets) > 0 {
			d.bg = &backgroundLoad{spec: *bg, parent: s.Ctx}
			d.bg.resume()
		}
	}
	if d.Ready != nil {
		d.Ready(b)
	}
}

// serve holds the lab and answers the trainee until ctx is done.
func (d *Session) serve(s *S, description string, fn func()) {
	defer d.stopBackground()
	for {
		select {
		case <-s.Ctx.Done():
			panic(hold{})
		case req := <-d.Requests:
			var rep Reply
			switch req.Kind {
			case "check":
				rep.Check = d.check(s, description, fn)
			case "set":
				if err := d.set(s, req.Key, req.Value); err != nil {
					rep.Err = err.Error()
				}
			default:
				rep.Err = fmt.Sprintf("unknown request %q", req.Kind)
			}
			req.Reply <- rep
		}
	}
}

func (d *Session) stopBackground() {
	if d.bg != nil {
		d.bg.pause()
	}
	d.logs.Wait()
}

// check runs the recovery assertions once against the live lab, recorded
// as a recovery phase of the drill's evidence.
func (d *Session) check(s *S, description string, fn func()) *CheckResult {
	if d.bg != nil {
		d.bg.pause()
		defer d.bg.resume()
	}
	d.n++
	name := d.Drill.recoveryPhase()
	s.endPhase()
	s.cur = &reports.Phase{Name: name, Description: fmt.Sprintf("check %d: %s", d.n, description), StartedAt: time.Now(),
		Assertions: []reports.Assertion{}}
	s.rec.Phases = append(s.rec.Phases, s.cur)
	res := &CheckResult{N: d.n, Phase: name, At: time.Now()}
	func() {
		defer func() {
			switch v := recover().(type) {
			case nil:
				res.Passed = true
			case failure:
				res.Reason = v.msg
			case skip:
				res.Reason = "skipped: " + v.reason
			default:
				res.Reason = fmt.Sprintf("scenario code panicked: %v\n%s", v, debug.Stack())
			}
		}()
		if d.Drill.Check != nil {
			d.Drill.Check(d.play, s)
		} else {
			fn()
		}
	}()
	s.endPhase()
	res.Duration = time.Since(res.At)
	res.Assertions = s.cur.Assertions
	res.Measurements = s.cur.Measurements
	res.Loads = s.cur.Loads
	return res
}

func (d *Session) set(s *S, key, value string) error {
	keys := make([]string, 0, len(d.Drill.Settings))
	for _, st := range d.Drill.Settings {
		if strings.EqualFold(st.Key, key) {
			err := catchFailure(func() error { return st.Apply(d.play, s, value) })
			if err == nil {
				if d.vals == nil {
					d.vals = map[string]string{}
				}
				d.vals[st.Key] = value
				s.Lab.Record("fix", "trainee", "drill set "+st.Key+"="+value)
			}
			return err
		}
		keys = append(keys, st.Key)
	}
	if len(keys) == 0 {
		return fmt.Errorf("this drill has no platform settings: fix it through the interfaces in the briefing")
	}
	return fmt.Errorf("unknown setting %q for this drill: valid settings are %s", key, strings.Join(keys, ", "))
}

// catchFailure turns a scenario failure (a Must inside a setting) into an
// error, so a bad value never ends the drill.
func catchFailure(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if f, ok := r.(failure); ok {
				err = errors.New(f.msg)
				return
			}
			panic(r)
		}
	}()
	return fn()
}

// copyLogs appends each source's new lines to its file once a second until
// ctx is done, so a trainee can tail and grep them.
func (d *Session) copyLogs(ctx context.Context, srcs []LogSource) {
	d.logs.Add(1)
	go func() {
		defer d.logs.Done()
		prev := make([][]string, len(srcs))
		files := make([]*os.File, len(srcs))
		for i, src := range srcs {
			f, err := os.OpenFile(filepath.Join(d.LogDir, src.Name), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
			if err == nil {
				files[i] = f
				defer f.Close()
			}
		}
		flush := func() {
			for i, src := range srcs {
				if files[i] == nil {
					continue
				}
				cur := src.Lines()
				for _, l := range fresh(prev[i], cur) {
					fmt.Fprintln(files[i], l)
				}
				prev[i] = cur
			}
		}
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			flush()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// fresh is what cur, a log's kept lines now, adds to prev, the same log a
// moment ago. Logs keep only their last lines: once full, old lines drop
// off the front as new ones arrive, so the new lines are what follows the
// longest suffix of prev that cur starts with.
func fresh(prev, cur []string) []string {
	if len(cur) >= len(prev) && slices.Equal(cur[:len(prev)], prev) {
		return cur[len(prev):]
	}
	for d := 1; d < len(prev); d++ {
		if n := len(prev) - d; n <= len(cur) && prev[d] == cur[0] && slices.Equal(prev[d:], cur[:n]) {
			return cur[n:]
		}
	}
	return cur // more was written than the log keeps: all of it is new
}

// backgroundLoad keeps a trickle of requests going in bounded rounds.
type backgroundLoad struct {
	spec   Background
	parent context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

func (b *backgroundLoad) resume() {
	if b.cancel != nil || b.parent.Err() != nil {
		return
	}
	ctx, cancel := context.WithCancel(b.parent)
	b.cancel, b.done = cancel, make(chan struct{})
	rate := min(b.spec.Rate, maxBackgroundRate)
	if rate <= 0 {
		rate = 5
	}
	go func() {
		defer close(b.done)
		for ctx.Err() == nil {
			err := load.Stream(ctx, b.spec.Targets, load.Constant(rate), 10*time.Second, func(load.Result) {}, b.spec.Options...)
			if err != nil && ctx.Err() == nil {
				select { // a refused round: try again later, never spin
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
		}
	}()
}

func (b *backgroundLoad) pause() {
	if b.cancel == nil {
		return
	}
	b.cancel()
	<-b.done
	b.cancel = nil
}
