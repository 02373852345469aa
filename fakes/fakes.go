// Package fakes holds the stand-ins chaoslab writes for systems it cannot run
// for real in a lab: a slow or faulty upstream, the EC2 metadata service, a
// TLS-inspecting proxy, a header-stripping load balancer, a token issuer, DNS
// and the Kong-compatible gateway emulation.
//
// Every fake lives in its own subpackage and registers a Def here, so the CLI
// (`chaoslab fake NAME --flags`), the embedded backend (in-process) and the
// docker backend (the same flags as a container entrypoint) all start it the
// same way. Adding a fake is adding one package with one Register call.
package fakes

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"
)

// Server is a running fake. It is ready (listening and serving) when the
// Starter that made it returns.
type Server interface {
	// URL is the main endpoint, printed by the CLI as "listening on <URL>".
	URL() string
	// Info is extra "key: value" lines the CLI prints after the listening
	// line, for example "ca: /tmp/lab/ca.pem".
	Info() []string
	// Close stops the fake and everything it started. It is idempotent.
	Close() error
}

// Starter starts a fake with the flag values parsed into it.
type Starter func(ctx context.Context) (Server, error)

// Def describes one fake.
type Def struct {
	Name    string // "upstream", "imds", "mitm", ...
	Summary string // one line for `chaoslab fake --help`
	// Flags registers the fake's flags on fs. The returned Starter starts the
	// fake with whatever values fs.Parse put into them; it must validate them
	// and return a one-line error naming the bad flag.
	Flags func(fs *flag.FlagSet) Starter
}

var (
	mu   sync.Mutex
	defs = map[string]Def{}
)

// Register adds a fake; it panics on a duplicate name (a programming error).
func Register(d Def) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := defs[d.Name]; dup {
		panic(fmt.Sprintf("fakes: %q registered twice", d.Name))
	}
	defs[d.Name] = d
}

// Lookup finds a registered fake by name.
func Lookup(name string) (Def, bool) {
	mu.Lock()
	defer mu.Unlock()
	d, ok := defs[name]
	return d, ok
}

// Names lists the registered fakes, sorted.
func Names() []string {
	mu.Lock()
	defer mu.Unlock()
	out := make([]string, 0, len(defs))
	for n := range defs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

type outputKey struct{}

type output struct{ stdout, stderr io.Writer }

// WithOutput tells the fakes started with ctx where to print: the CLI passes
// the process's stdout and stderr, the embedded backend a buffer per stream,
// so in-process logs read exactly like a container's.
func WithOutput(ctx context.Context, stdout, stderr io.Writer) context.Context {
	return context.WithValue(ctx, outputKey{}, output{stdout, stderr})
}

// Stdout is where a fake started with ctx prints its normal output (for the
// gateway: the access log). io.Discard when none was given.
func Stdout(ctx context.Context) io.Writer {
	if o, ok := ctx.Value(outputKey{}).(output); ok && o.stdout != nil {
		return o.stdout
	}
	return io.Discard
}

// Stderr is where a fake started with ctx prints diagnostics (for the
// gateway: the error log). io.Discard when none was given.
func Stderr(ctx context.Context) io.Writer {
	if o, ok := ctx.Value(outputKey{}).(output); ok && o.stderr != nil {
		return o.stderr
	}
	return io.Discard
}

// Hold waits d before a fake answers, unless the request's context ends or
// the fake closes (stop). It reports whether the request should still be
// answered: a slow fake must never keep Close waiting for its delays.
func Hold(ctx context.Context, stop <-chan struct{}, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-stop:
	}
	return false
}
