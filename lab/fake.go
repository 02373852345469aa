package lab

import (
	"context"
	"fmt"
)

// Fake starts any registered fake (see package fakes) by its command-line
// flags, on the lab's backend, and stops it when the lab closes. It is the
// generic form of Upstream and Gateway, for the fakes that need no fault
// proxy or control client in front of them (the TLS-inspecting proxy, the
// metadata service, DNS): `chaoslab fake mitm --mode tunnel` is
// l.Fake(ctx, "mitm", []string{"--mode", "tunnel"}).
//
// Paths in args must be inside Dir, which every backend shows at the same
// path. The returned Service's Close may be called early (a scenario
// replacing a component); the lab's own Close then does nothing more.
func (l *Lab) Fake(ctx context.Context, name string, args []string) (Service, error) {
	if err := l.checkOpen(); err != nil {
		return nil, err
	}
	svc, err := l.backend.StartFake(ctx, name, args)
	if err != nil {
		return nil, err
	}
	l.onClose("fake "+name+" "+svc.URL(), svc.Close)
	l.Record("started", name, "fake "+name+" "+svc.URL())
	if err := l.checkOpen(); err != nil {
		// The lab closed while the fake was starting: its closers have run
		// without this one.
		return nil, fmt.Errorf("fake %s: %w", name, joinClose(err, svc.Close()))
	}
	return svc, nil
}

func joinClose(err, closeErr error) error {
	if closeErr != nil {
		return fmt.Errorf("%w (and closing it: %v)", err, closeErr)
	}
	return err
}
