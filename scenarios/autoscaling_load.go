package scenarios

import (
	"fmt"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chaoslab/chaoslab/load"
)

// The autoscaling family's load lasts as long as what it waits for (a
// metrics sample, a rescale, a pod landing), not a fixed time, and a spike
// goes on across phases: the fix is applied while the traffic still comes.

// untilPacer paces like its Pacer until stop is set, then ends the attack
// (vegeta sends nothing more and waits for the answers in flight).
type untilPacer struct {
	load.Pacer
	stop *atomic.Bool
	why  string
}

func (p untilPacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	if p.stop.Load() {
		return 0, true
	}
	// vegeta sends a hit after every wait it is given, so the wait cannot be
	// shortened to check stop sooner: at the rates used here (>= 5/s) the
	// attack ends within one interval.
	return p.Pacer.Pace(elapsed, hits)
}

func (p untilPacer) String() string { return p.Pacer.String() + " until " + p.why }

// spanLoad is load on the workload's Service that runs until ended, possibly
// across phases. Answers are collected as they arrive, so a phase can judge
// what has come back so far.
type spanLoad struct {
	name  string
	pacer untilPacer
	stop  atomic.Bool
	t0    time.Time
	done  chan error

	mu       sync.Mutex
	answered load.Results
	inFlight map[*http.Request]time.Time // sent, no answer yet: when each was sent
	endOnce  sync.Once
	err      error
}

// track is a transport wrapper that keeps the requests still waiting for an
// answer, so drained can see a queue whose requests have not come back yet.
func (l *spanLoad) track(next http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		l.mu.Lock()
		l.inFlight[r] = time.Now()
		l.mu.Unlock()
		defer func() {
			l.mu.Lock()
			delete(l.inFlight, r)
			l.mu.Unlock()
		}()
		return next.RoundTrip(r)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// startLoad starts p against the Service. It lasts at most
// load.DefaultMaxDuration; it also ends (and is waited for) when the lab
// closes, so a failed assertion mid-spike leaves no attack running.
func (x *asLab) startLoad(s *S, name string, p load.Pacer, until string) *spanLoad {
	l := &spanLoad{name: name, t0: time.Now(), done: make(chan error, 1), inFlight: map[*http.Request]time.Time{}}
	l.pacer = untilPacer{Pacer: p, stop: &l.stop, why: until}
	go func() {
		l.done <- load.Stream(s.Ctx, get(x.svc+"/"), l.pacer, load.DefaultMaxDuration, func(r load.Result) {
			l.mu.Lock()
			l.answered = append(l.answered, r)
			l.mu.Unlock()
		}, load.WithTransport(l.track))
	}()
	s.Lab.OnClose("load "+name, func() error { l.wait(); return nil })
	return l
}

// wait stops sending and waits for the answers in flight. Idempotent.
func (l *spanLoad) wait() {
	l.endOnce.Do(func() {
		l.stop.Store(true)
		l.err = <-l.done
	})
}

// soFar is a copy of the answers received so far, in order of sending.
func (l *spanLoad) soFar() load.Results {
	l.mu.Lock()
	rs := append(load.Results(nil), l.answered...)
	l.mu.Unlock()
	sort.Slice(rs, func(i, j int) bool { return rs[i].Seq < rs[j].Seq })
	return rs
}

// drained reports whether every answer of the last second came back within
// bound and no request still waits longer than bound: no replica still works
// through a queue built up earlier. Answers alone are not enough: a replica
// that shares its CPU among all its requests (a real pod under its CPU limit)
// answers none of its backlog for a while, then all of it at once, so the
// fast answers of the other replicas would look like a drained queue.
func (l *spanLoad) drained(bound time.Duration) bool {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, sent := range l.inFlight {
		if now.Sub(sent) > bound {
			return false
		}
	}
	n := 0
	for i := len(l.answered) - 1; i >= 0; i-- {
		r := l.answered[i]
		if now.Sub(r.Timestamp.Add(r.Latency)) > time.Second {
			break // answers are appended in the order they arrive
		}
		if r.Latency > bound {
			return false
		}
		n++
	}
	return n > 0
}

// end stops the load, waits for its last answers, records it in the current
// phase and returns every result in order of sending.
func (l *spanLoad) end(s *S) load.Results {
	l.wait()
	rs := l.soFar()
	if l.err != nil && len(rs) == 0 {
		s.failAt(fmt.Sprintf("load %s: %v", l.name, l.err), 1)
	}
	if err := s.Ctx.Err(); err != nil {
		s.failAt(fmt.Sprintf("load %s interrupted: %v", l.name, err), 1)
	}
	s.RecordLoad(l.name, l.pacer.String(), l.t0, rs)
	return rs
}

// loadWhile drives p at the Service while fn runs (fn waits for whatever the
// phase is about: metrics, a rescale, a window), then ends the load and
// records it in the current phase. until says what fn waits for.
func (x *asLab) loadWhile(s *S, name string, p load.Pacer, until string, fn func()) load.Results {
	l := x.startLoad(s, name, p, until)
	defer l.wait() // fn failed: stop before the failure goes on
	fn()
	return l.end(s)
}
