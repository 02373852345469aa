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
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
)

// Server is a running fake. It is ready (listening and serving) when the
// Starter that made it returns.
type Server interface {
	// URL is the main endpoint, printed by the CLI as "listening on <URL>".
	URL() string
	// Info is what the fake reports besides its URL, by name: "ca" (the path
	// of the root CA PEM a client must trust), "admin" (the gateway's Admin
	// API URL)... The CLI prints it with the URL as one Ready line; the lab's
	// typed handles read it (Ready is the only format, ParseReady the only
	// parser).
	Info() map[string]string
	// Close stops the fake and everything it started. It is idempotent.
	Close() error
}

// Config is a fake's configuration as a Go value: Fake names the registered
// fake it configures ("imds" for imds.Config) and Args renders it as that
// fake's flags (what `chaoslab fake NAME` and a container entrypoint take).
type Config interface {
	Fake() string
	Args() []string
}

// Ready is a fake's start-up report: its URL and its Info. `chaoslab fake`
// prints it as one machine-readable line right after the human "listening
// on <url>" line; the docker backend reads it back from the container's
// output with ParseReady.
type Ready struct {
	URL  string            `json:"url"`
	Info map[string]string `json:"info,omitempty"`
}

// readyPrefix starts the Ready line: "ready: {json}".
const readyPrefix = "ready: "

// ReadyOf is srv's report.
func ReadyOf(srv Server) Ready { return Ready{URL: srv.URL(), Info: srv.Info()} }

// String is the Ready line as the CLI prints it.
func (r Ready) String() string {
	b, _ := json.Marshal(r) // a string and a map of strings always marshal
	return readyPrefix + string(b)
}

// ParseReady finds the Ready line in a fake's output lines. ok is false while
// it has not been printed yet.
func ParseReady(lines []string) (r Ready, ok bool, err error) {
	for _, l := range lines {
		if js, found := strings.CutPrefix(l, readyPrefix); found {
			if err := json.Unmarshal([]byte(js), &r); err != nil {
				return Ready{}, false, fmt.Errorf("fake start-up report %q: %w", l, err)
			}
			return r, true, nil
		}
	}
	return Ready{}, false, nil
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

// flagConfig is a Config whose pointer binds its fields to a flag set.
type flagConfig[C Config] interface {
	*C
	RegisterFlags(fs *flag.FlagSet)
}

// RegisterConfig registers the fake that C configures, under C.Fake(): its
// flags are C's RegisterFlags, start runs it. It is a fake's whole
// register.go: fakes.RegisterConfig("one-line summary", Start).
func RegisterConfig[C Config, S Server, P flagConfig[C]](summary string, start func(ctx context.Context, c C) (S, error)) {
	var zero C
	Register(Def{Name: zero.Fake(), Summary: summary, Flags: func(fs *flag.FlagSet) Starter {
		var c C
		P(&c).RegisterFlags(fs)
		return func(ctx context.Context) (Server, error) {
			srv, err := start(ctx, c)
			if err != nil {
				return nil, err // not a typed nil Server
			}
			return srv, nil
		}
	}})
}

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
