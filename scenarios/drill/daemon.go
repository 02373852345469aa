package drill

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/chaoslab/chaoslab/reports"
	"github.com/chaoslab/chaoslab/scenarios"
)

// DaemonConfig is what `drill start` hands the background process.
type DaemonConfig struct {
	StateDir  string
	ID        string
	Backend   string
	Cluster   string
	TimeLimit time.Duration
}

// Status is what `drill status` shows.
type Status struct {
	ID         string              `json:"id"`
	Title      string              `json:"title"`
	Difficulty string              `json:"difficulty"`
	State      string              `json:"state"` // starting, investigating, resolved
	PID        int                 `json:"pid"`
	StartedAt  time.Time           `json:"started_at"`
	BriefedAt  time.Time           `json:"briefed_at"`
	Deadline   time.Time           `json:"deadline"` // the drill stops itself then
	ResolvedAt time.Time           `json:"resolved_at"`
	HintsUsed  int                 `json:"hints_used"`
	HintsTotal int                 `json:"hints_total"`
	Checks     int                 `json:"checks"`
	Backend    string              `json:"backend"`
	Briefing   *scenarios.Briefing `json:"briefing,omitempty"`
	Dir        string              `json:"dir"`
	Debrief    string              `json:"debrief,omitempty"` // the HTML page, once resolved
}

// Hint is one revealed hint.
type Hint struct {
	N     int    `json:"n"`
	Total int    `json:"total"`
	Text  string `json:"text"`
	More  bool   `json:"more"`
}

// CheckAnswer is `drill check`'s answer.
type CheckAnswer struct {
	Check   *scenarios.CheckResult `json:"check"`
	Debrief *Debrief               `json:"debrief,omitempty"` // on the first passing check
}

// startLine is the one line the daemon writes to `drill start` on fd 4.
type startLine struct {
	Status *Status `json:"status,omitempty"`
	Error  string  `json:"error,omitempty"`
}

type daemon struct {
	p     paths
	entry scenarios.DrillEntry
	sess  *scenarios.Session
	ready *os.File
	done  chan struct{} // closed when the scenario has ended
	stop  context.CancelFunc

	mu      sync.Mutex
	st      Status
	fails   []*scenarios.CheckResult
	debrief *Debrief
}

// RunDaemon is the background process: it plays the drill's scenario until
// `drill stop`, the time limit, or a signal, then removes everything,
// keeping only the debrief page. fd 3 is the state directory's lock,
// fd 4 the line to `drill start`.
func RunDaemon(ctx context.Context, cfg DaemonConfig) error {
	lock, ready := os.NewFile(3, "drill.lock"), os.NewFile(4, "drill-start")
	if lock == nil || ready == nil {
		return errors.New("drill daemon: started without its lock and start pipe (it is started by chaoslab drill start)")
	}
	defer lock.Close()
	signal.Ignore(syscall.SIGHUP) // no terminal; belt and braces
	p := paths{cfg.StateDir}
	e, err := scenarios.LookupDrill(cfg.ID)
	if err != nil {
		writeStart(ready, startLine{Error: err.Error()})
		return err
	}
	if cfg.TimeLimit <= 0 {
		cfg.TimeLimit = 2 * time.Hour
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.TimeLimit)
	defer cancel()
	now := time.Now()
	d := &daemon{p: p, entry: e, ready: ready, done: make(chan struct{}), stop: cancel,
		st: Status{ID: e.ID, Title: e.Title, Difficulty: e.Drill.Difficulty, State: "starting", PID: os.Getpid(),
			StartedAt: now, Deadline: now.Add(cfg.TimeLimit), HintsTotal: len(e.Drill.Hints), Backend: cfg.Backend, Dir: p.dir()}}
	defer d.teardown(lock)

	_ = os.Remove(p.socket())
	ln, err := net.Listen("unix", p.socket())
	if err != nil {
		writeStart(ready, startLine{Error: "control socket: " + err.Error()})
		return err
	}
	_ = os.Chmod(p.socket(), 0o600)
	srv := &http.Server{Handler: d.mux(), ReadHeaderTimeout: 5 * time.Second}
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(ln) }()
	defer func() {
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		_ = srv.Shutdown(sctx)
		<-served
	}()

	d.sess = &scenarios.Session{Drill: e.Drill, LogDir: p.logs(), Requests: make(chan scenarios.Request), Ready: d.briefed}
	res := func() *reports.Scenario {
		defer close(d.done)
		return scenarios.Execute(ctx, e.Scenario, scenarios.Options{Backend: cfg.Backend, Cluster: cfg.Cluster, Dir: p.lab(), Drill: d.sess})
	}()
	d.mu.Lock()
	briefed := !d.st.BriefedAt.IsZero()
	d.mu.Unlock()
	if !briefed {
		msg := fmt.Sprintf("%s: %s", res.Verdict, res.Reason)
		switch {
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			msg = "the time limit (" + cfg.TimeLimit.String() + ") passed before the briefing"
		case ctx.Err() != nil:
			msg = "stopped before the briefing (chaoslab drill stop or a signal)"
		case res.Reason == "":
			msg = "the scenario ended before the fault was live"
		}
		writeStart(ready, startLine{Error: msg})
		return errors.New(msg)
	}
	return nil
}

func writeStart(f *os.File, l startLine) {
	_ = json.NewEncoder(f).Encode(l)
	_ = f.Close()
}

// briefed runs on the scenario's goroutine once the fault is live.
func (d *daemon) briefed(b scenarios.Briefing) {
	d.mu.Lock()
	d.st.State, d.st.BriefedAt, d.st.Briefing = "investigating", time.Now(), &b
	st := d.st
	d.mu.Unlock()
	writeStart(d.ready, startLine{Status: &st})
}

// teardown removes the drill's directory (the lab removed its own) and the
// lock file, keeping the debrief page under debriefs/.
func (d *daemon) teardown(lock *os.File) {
	d.mu.Lock()
	deb := d.debrief
	d.mu.Unlock()
	if deb != nil {
		if err := os.MkdirAll(d.p.debriefs(), 0o700); err == nil {
			kept := filepath.Join(d.p.debriefs(), deb.FileName())
			if err := os.Rename(deb.HTML, kept); err != nil {
				fmt.Fprintf(os.Stderr, "keeping the debrief: %v\n", err)
			}
		}
	}
	if err := os.RemoveAll(d.p.dir()); err != nil {
		fmt.Fprintf(os.Stderr, "removing %s: %v\n", d.p.dir(), err)
	}
	_ = os.Remove(d.p.lock()) // still held: a new start re-checks the inode
	_ = lock.Close()
}

func (d *daemon) mux() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		st := d.st
		d.mu.Unlock()
		reply(w, http.StatusOK, st)
	})
	m.HandleFunc("POST /hint", func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.st.Briefing == nil {
			reply(w, http.StatusConflict, errBody("the drill is still starting: wait for the briefing"))
			return
		}
		hints := d.entry.Drill.Hints
		if d.st.HintsUsed < len(hints) {
			d.st.HintsUsed++
		}
		n := d.st.HintsUsed
		reply(w, http.StatusOK, Hint{N: n, Total: len(hints), More: n < len(hints),
			Text: scenarios.Expand(hints[n-1], d.st.Briefing.Addresses)})
	})
	m.HandleFunc("POST /check", func(w http.ResponseWriter, r *http.Request) {
		rep, code := d.request(r.Context(), scenarios.Request{Kind: "check"})
		if code != http.StatusOK {
			reply(w, code, errBody(rep.Err))
			return
		}
		reply(w, http.StatusOK, d.checked(rep.Check))
	})
	m.HandleFunc("POST /set", func(w http.ResponseWriter, r *http.Request) {
		var kv struct{ Key, Value string }
		if err := json.NewDecoder(r.Body).Decode(&kv); err != nil {
			reply(w, http.StatusBadRequest, errBody("bad request: "+err.Error()))
			return
		}
		rep, code := d.request(r.Context(), scenarios.Request{Kind: "set", Key: kv.Key, Value: kv.Value})
		if code == http.StatusOK && rep.Err != "" {
			code = http.StatusBadRequest
		}
		reply(w, code, errBody(rep.Err))
	})
	m.HandleFunc("GET /settings", func(w http.ResponseWriter, r *http.Request) {
		var out []map[string]string
		for _, s := range d.entry.Drill.Settings {
			out = append(out, map[string]string{"key": s.Key, "doc": s.Doc})
		}
		reply(w, http.StatusOK, out)
	})
	m.HandleFunc("POST /stop", func(w http.ResponseWriter, r *http.Request) {
		d.stop()
		reply(w, http.StatusAccepted, errBody(""))
	})
	return m
}

// request hands a check or set to the scenario's goroutine.
func (d *daemon) request(ctx context.Context, req scenarios.Request) (scenarios.Reply, int) {
	d.mu.Lock()
	briefed := d.st.Briefing != nil
	d.mu.Unlock()
	if !briefed {
		return scenarios.Reply{Err: "the drill is still starting: wait for the briefing"}, http.StatusConflict
	}
	req.Reply = make(chan scenarios.Reply, 1)
	select {
	case d.sess.Requests <- req:
	case <-d.done:
		return scenarios.Reply{Err: "the drill is stopping"}, http.StatusGone
	case <-ctx.Done():
		return scenarios.Reply{Err: "request cancelled"}, http.StatusRequestTimeout
	}
	select {
	case rep := <-req.Reply:
		return rep, http.StatusOK
	case <-d.done:
		return scenarios.Reply{Err: "the drill is stopping"}, http.StatusGone
	}
}

// checked records a check; the first passing one resolves the drill and
// writes the debrief.
func (d *daemon) checked(c *scenarios.CheckResult) CheckAnswer {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.st.Checks++
	ans := CheckAnswer{Check: c}
	if !c.Passed {
		d.fails = append(d.fails, c)
		return ans
	}
	if d.st.State == "resolved" {
		return ans
	}
	d.st.State, d.st.ResolvedAt = "resolved", c.At.Add(c.Duration)
	deb := newDebrief(d.p, d.entry, d.st, c, d.fails)
	path := filepath.Join(d.p.debriefDir(), "debrief.html")
	if err := deb.writeHTML(path); err != nil {
		deb.HTMLError = err.Error()
	} else {
		deb.HTML, d.st.Debrief = path, path
	}
	d.debrief = deb
	ans.Debrief = deb
	return ans
}

func errBody(msg string) map[string]string {
	if msg == "" {
		return map[string]string{}
	}
	return map[string]string{"error": msg}
}

func reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
