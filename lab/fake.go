package lab

import (
	"context"
	"fmt"

	"github.com/chaoslab/chaoslab/fakes"
)

// Fake is a running fake: the handle every typed one (Upstream, Gateway,
// IMDS, App, MITM, Tokens, LB, DNS) is built on. What the fake reported at
// start-up (fakes.Ready) is read through Info; nobody parses its printed
// lines.
type Fake struct {
	name    string
	svc     Service
	unwatch func() // a fake closed on purpose has not died
}

// Name is the registered fake's name ("imds").
func (f *Fake) Name() string { return f.name }

// URL is the fake's main endpoint.
func (f *Fake) URL() string { return f.svc.URL() }

// Info is one value of the fake's start-up report ("ca", "admin", "role"),
// "" when it reported none.
func (f *Fake) Info(key string) string { return f.svc.Info()[key] }

// Stdout and Stderr are the lines the fake printed so far.
func (f *Fake) Stdout() []string { return f.svc.Stdout() }
func (f *Fake) Stderr() []string { return f.svc.Stderr() }

// Close stops the fake early (a scenario replacing a component); the lab's
// own Close then does nothing more for it.
func (f *Fake) Close() error {
	if f.unwatch != nil {
		f.unwatch()
	}
	return f.svc.Close()
}

// Fake starts the fake cfg configures (imds.Config starts "imds") on the
// lab's backend, waits until it serves, and stops it when the lab closes.
// It is the one entry point every typed handle starts through. Paths in cfg
// must be inside Dir, which every backend shows at the same path.
func (l *Lab) Fake(ctx context.Context, cfg fakes.Config) (*Fake, error) {
	name := cfg.Fake()
	if err := l.checkOpen(); err != nil {
		return nil, err
	}
	svc, err := l.backend.StartFake(ctx, cfg)
	if err != nil {
		return nil, err
	}
	l.onClose("fake "+name+" "+svc.URL(), svc.Close)
	var watched string
	if m, ok := svc.(Mortal); ok {
		watched = l.watch("fake "+name, m)
	}
	l.Record("started", name, "fake "+name+" "+svc.URL())
	if err := l.checkOpen(); err != nil {
		// The lab closed while the fake was starting: its closers have run
		// without this one.
		return nil, fmt.Errorf("fake %s: %w", name, joinClose(err, svc.Close()))
	}
	return &Fake{name: name, svc: svc, unwatch: func() { l.unwatch(watched) }}, nil
}

func joinClose(err, closeErr error) error {
	if closeErr != nil {
		return fmt.Errorf("%w (and closing it: %v)", err, closeErr)
	}
	return err
}
