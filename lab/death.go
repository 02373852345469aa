package lab

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/chaoslab/chaoslab/lab/cluster"
)

// Mortal is a component that can stop by itself while its lab is open: a
// process that exits (real Kong, the kube-apiserver), a container that
// stops. The lab watches every Mortal it starts and records a Death when
// one stops before Close, so a scenario fails naming the component instead
// of hanging on it or blaming the symptom on the fault it injected.
type Mortal interface {
	// Exited reports whether the component has stopped, and how
	// ("nginx master 1234 exited: signal: killed"). It must be cheap: the
	// lab asks every watchInterval.
	Exited() (how string, exited bool)
	// Kill stops the component abruptly, as a crash would (SIGKILL, docker
	// stop -t 0, or for an in-process component closing it). For tests of a
	// component dying mid-scenario.
	Kill() error
}

// watchInterval is how often the lab asks its components whether they are
// still there (a process's state, a container's): a death is noticed within
// about this long.
const watchInterval = 200 * time.Millisecond

// Death is a component that stopped while the lab was open.
type Death struct {
	Component string    `json:"component"` // "gateway", "upstream orders", "toxiproxy", "kube-apiserver"
	At        time.Time `json:"at"`        // when the lab noticed
	How       string    `json:"how"`       // what the component's exit says
}

func (d Death) Error() string { return d.Component + " died: " + d.How }

// deathWatch is the lab's watch over its Mortal components.
type deathWatch struct {
	mu      sync.Mutex
	watched map[string]Mortal
	deaths  []Death
	died    chan struct{} // closed at the first death
	stop    context.CancelFunc
	ctx     context.Context
	done    chan struct{} // closed when the watching goroutine has returned
}

// watch adds a component to the lab's death watch; the watching goroutine
// starts with the first one and stops when Close begins (what Close stops
// is not a death).
// It returns the name the component is watched under (a second one of the
// same name gets a number).
func (l *Lab) watch(component string, m Mortal) string {
	if m == nil {
		return ""
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ""
	}
	w := &l.deaths
	w.mu.Lock()
	if w.died == nil {
		w.died = make(chan struct{})
	}
	if w.watched == nil {
		w.watched, w.done = map[string]Mortal{}, make(chan struct{})
		w.ctx, w.stop = context.WithCancel(context.Background())
		go l.watchLoop(w.ctx, w.done)
	}
	if _, dup := w.watched[component]; dup {
		component = fmt.Sprintf("%s #%d", component, len(w.watched)+1)
	}
	w.watched[component] = m
	w.mu.Unlock()
	l.mu.Unlock()
	return component
}

// unwatch takes a component out of the death watch: it is being stopped on
// purpose (a scenario replacing the app), which is not a death.
func (l *Lab) unwatch(component string) {
	w := &l.deaths
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.watched, component)
}

// Watch adds a component a scenario started itself (a process, a
// simulator) to the lab's death watch under the given name; the returned
// func takes it out again (before stopping it on purpose).
func (l *Lab) Watch(component string, m Mortal) (unwatch func()) {
	name := l.watch(component, m)
	return func() { l.unwatch(name) }
}

func (l *Lab) watchLoop(ctx context.Context, done chan struct{}) {
	defer close(done)
	tick := time.NewTicker(watchInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		l.checkDeaths(ctx)
	}
}

// checkDeaths asks every watched component whether it is still there and
// records those that are not (once each).
func (l *Lab) checkDeaths(ctx context.Context) {
	w := &l.deaths
	w.mu.Lock()
	names := make([]string, 0, len(w.watched))
	for n := range w.watched {
		names = append(names, n)
	}
	w.mu.Unlock()
	sort.Strings(names)
	for _, n := range names {
		if ctx.Err() != nil {
			return // Close began: stopping components now is not a death
		}
		w.mu.Lock()
		m := w.watched[n]
		w.mu.Unlock()
		if m == nil {
			continue // unwatched meanwhile
		}
		how, exited := m.Exited()
		if !exited || ctx.Err() != nil {
			continue
		}
		w.mu.Lock()
		if w.watched[n] != m {
			w.mu.Unlock()
			continue // stopped on purpose: unwatched before it was closed
		}
		delete(w.watched, n)
		w.deaths = append(w.deaths, Death{Component: n, At: time.Now(), How: how})
		if len(w.deaths) == 1 {
			close(w.died)
		}
		w.mu.Unlock()
		l.Record("died", n, how)
	}
}

// stopWatching ends the death watch; Close calls it before it stops
// anything, and waits for the watching goroutine.
func (l *Lab) stopWatching() {
	w := &l.deaths
	w.mu.Lock()
	stop, done := w.stop, w.done
	w.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}

// Died is closed when a component of the lab has died (see Deaths).
func (l *Lab) Died() <-chan struct{} {
	w := &l.deaths
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.died == nil {
		w.died = make(chan struct{})
	}
	return w.died
}

// Deaths lists the components that stopped while the lab was open, in the
// order the lab noticed. It checks every watched component once more first,
// so a death that happened just now is not missed.
func (l *Lab) Deaths() []Death {
	w := &l.deaths
	w.mu.Lock()
	ctx := w.ctx
	w.mu.Unlock()
	if ctx != nil {
		l.checkDeaths(ctx)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Death(nil), w.deaths...)
}

// Components lists the watched components by name (what Kill takes).
func (l *Lab) Components() []string {
	w := &l.deaths
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]string, 0, len(w.watched))
	for n := range w.watched {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Kill stops a watched component abruptly, as a crash would: the test hook
// behind the component-death tests. The lab then notices the death like any
// other (within about watchInterval).
func (l *Lab) Kill(component string) error {
	w := &l.deaths
	w.mu.Lock()
	m, ok := w.watched[component]
	w.mu.Unlock()
	if !ok {
		return fmt.Errorf("lab: no running component %q: the lab watches %s", component, strings.Join(l.Components(), ", "))
	}
	l.Record("note", component, "killed on purpose (test)")
	return m.Kill()
}

// killedFlag is the Mortal of an in-process component: it cannot die by
// itself (it lives and dies with this process), so it has died only when
// Kill closed it.
type killedFlag struct {
	mu     sync.Mutex
	killed bool
	close  func() error
	how    string
}

func (k *killedFlag) Exited() (string, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.how, k.killed
}

func (k *killedFlag) Kill() error {
	k.mu.Lock()
	k.killed, k.how = true, "closed abruptly (in-process, killed)"
	k.mu.Unlock()
	return k.close()
}

// toxiproxyMortal is a backend whose toxiproxy server can die (a container)
// or be killed (the embedded server).
type toxiproxyMortal interface{ ToxiproxyMortal() Mortal }

// watchToxiproxy adds the backend's toxiproxy to the death watch, once.
func (l *Lab) watchToxiproxy() {
	tm, ok := l.backend.(toxiproxyMortal)
	if !ok {
		return
	}
	w := &l.deaths
	w.mu.Lock()
	_, seen := w.watched["toxiproxy"]
	for _, d := range w.deaths {
		seen = seen || d.Component == "toxiproxy"
	}
	w.mu.Unlock()
	if !seen {
		if m := tm.ToxiproxyMortal(); m != nil {
			l.watch("toxiproxy", m)
		}
	}
}

// ToxiproxyMortal implements toxiproxyMortal: the embedded server lives in
// this process, so only Kill ends it early (every proxy's listener and
// connections, and the API).
func (e *embedded) ToxiproxyMortal() Mortal {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.toxi == nil {
		return nil
	}
	return &killedFlag{close: e.Close}
}

// watchCluster adds the cluster's kube-apiserver to the death watch when
// its provider runs it as a local process (kwok, node).
func (l *Lab) watchCluster(c *cluster.Cluster) {
	if p := c.APIServer(); p != nil {
		l.watch("kube-apiserver", p)
	}
}
