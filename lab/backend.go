package lab

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/chaoslab/chaoslab/fakes"
)

// DefaultBackend runs everything in-process on 127.0.0.1.
const DefaultBackend = "embedded"

// Capability is something a backend can provide. A scenario that needs one
// its backend lacks is skipped with a one-line reason.
type Capability string

const (
	CapGatewayEmulation Capability = "gateway-emulation" // the Kong-compatible emulation
	CapRealKong         Capability = "real-kong"         // the kong:3.9 image
	CapContainers       Capability = "containers"
)

// Service is a running component: a fake, the gateway, toxiproxy.
type Service interface {
	URL() string
	// Info is the component's start-up report besides its URL
	// (fakes.Server.Info): "ca", "admin", ...
	Info() map[string]string
	// Stdout and Stderr are the lines the component printed so far (for the
	// gateway: the access log and the error log).
	Stdout() []string
	Stderr() []string
	Close() error
}

// Backend runs components. Everything else in the lab is backend-neutral.
type Backend interface {
	Name() string
	Has(Capability) bool
	// StartFake runs the registered fake cfg configures (see package fakes)
	// with cfg's flags, as `chaoslab fake NAME` takes them. Paths in cfg are
	// inside Lab.Dir, which every backend makes visible at the same path.
	StartFake(ctx context.Context, cfg fakes.Config) (Service, error)
	// Toxiproxy returns the base URL of toxiproxy's HTTP API, starting the
	// server on first use. Proxies it creates listen on 127.0.0.1.
	Toxiproxy(ctx context.Context) (string, error)
	Close() error
}

// BackendFactory makes a backend for one lab.
type BackendFactory func(ctx context.Context, l *Lab) (Backend, error)

var (
	backendsMu sync.Mutex
	backends   = map[string]BackendFactory{}
)

// RegisterBackend adds a backend by name.
func RegisterBackend(name string, f BackendFactory) {
	backendsMu.Lock()
	defer backendsMu.Unlock()
	backends[name] = f
}

// Backends lists the registered backend names.
func Backends() []string {
	backendsMu.Lock()
	defer backendsMu.Unlock()
	out := make([]string, 0, len(backends))
	for n := range backends {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func lookupBackend(name string) (BackendFactory, error) {
	backendsMu.Lock()
	f, ok := backends[name]
	backendsMu.Unlock()
	if !ok {
		return nil, fmt.Errorf("unknown backend %q: valid backends are %s", name, strings.Join(Backends(), ", "))
	}
	return f, nil
}
