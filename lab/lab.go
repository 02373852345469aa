// Package lab starts and tears down a scenario's topology (upstreams, fault
// proxies, the gateway, fakes) on a backend, and hands out typed handles.
//
// A Lab owns everything it starts: Close stops it all in reverse order, is
// idempotent, and leaves no goroutine, listener, process, container or file.
// Every component is reached through a backend-neutral API (the fakes' control
// endpoints, toxiproxy's HTTP API, Kong's admin API), so the same scenario code
// runs in-process (embedded) and on containers (docker).
package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Event is one entry of the lab's timeline: what happened to which component
// and when. Reports draw fault windows from these.
type Event struct {
	Time      time.Time `json:"time"`
	Kind      string    `json:"kind"` // started, fault-applied, fault-realised, fault-removed, note, ...
	Component string    `json:"component"`
	Detail    string    `json:"detail,omitempty"`
}

// Lab is one running topology.
type Lab struct {
	backend Backend
	dir     string

	mu        sync.Mutex
	closers   []namedCloser
	events    []Event
	upstreams map[string]*Upstream
	proxies   map[string]*FaultProxy
	// gatewaySeq numbers the gateways started, for their directories.
	gatewaySeq atomic.Int32
	closed     bool
	closeErr   error
	deaths     deathWatch // death.go
}

type namedCloser struct {
	name string
	fn   func() error
}

type options struct {
	backend string
	parent  string
}

// Option configures New.
type Option func(*options)

// WithBackend selects the backend by name (default "embedded").
func WithBackend(name string) Option { return func(o *options) { o.backend = name } }

// WithDir puts the lab's working directory (certificates, configs) under parent.
func WithDir(parent string) Option { return func(o *options) { o.parent = parent } }

// New starts an empty lab on a backend. Components are added with the typed
// methods (Upstream, FaultProxy, Gateway, ...).
func New(ctx context.Context, opts ...Option) (*Lab, error) {
	o := options{backend: DefaultBackend}
	for _, opt := range opts {
		opt(&o)
	}
	factory, err := lookupBackend(o.backend)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(o.parent, "chaoslab-")
	if err != nil {
		return nil, fmt.Errorf("lab: working directory: %w", err)
	}
	l := &Lab{dir: dir, upstreams: map[string]*Upstream{}, proxies: map[string]*FaultProxy{}}
	l.closers = append(l.closers, namedCloser{"working directory", func() error { return os.RemoveAll(dir) }})
	b, err := factory(ctx, l)
	if err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("lab: backend %s: %w", o.backend, err)
	}
	l.backend = b
	l.onClose("backend "+b.Name(), b.Close)
	return l, nil
}

// Backend is the backend this lab runs on.
func (l *Lab) Backend() Backend { return l.backend }

// Dir is the lab's working directory; it is removed on Close.
func (l *Lab) Dir() string { return l.dir }

// Record adds an event to the timeline.
func (l *Lab) Record(kind, component, detail string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, Event{Time: time.Now(), Kind: kind, Component: component, Detail: detail})
}

// Events returns a copy of the timeline.
func (l *Lab) Events() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Event(nil), l.events...)
}

// onClose registers fn to run on Close, after everything registered later.
func (l *Lab) onClose(name string, fn func() error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closers = append(l.closers, namedCloser{name, fn})
}

// Close stops every component in reverse start order and removes the working
// directory. It is safe to call more than once and from a deferred cleanup
// after a failed assertion.
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return l.closeErr
	}
	l.closed = true
	closers := l.closers
	l.closers = nil
	l.mu.Unlock()
	l.stopWatching() // what Close stops did not die

	var errs []error
	for i := len(closers) - 1; i >= 0; i-- {
		if err := closers[i].fn(); err != nil {
			errs = append(errs, fmt.Errorf("closing %s: %w", closers[i].name, err))
		}
	}
	l.closeErr = errors.Join(errs...)
	return l.closeErr
}

func (l *Lab) checkOpen() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errors.New("lab: closed")
	}
	return nil
}
