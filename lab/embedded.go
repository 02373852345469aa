package lab

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"

	"github.com/chaoslab/chaoslab/fakes"
	_ "github.com/chaoslab/chaoslab/fakes/all" // the fakes StartFake runs by name

	"github.com/chaoslab/chaoslab/lab/internal/lines"
)

func init() { RegisterBackend(DefaultBackend, newEmbedded) }

// embedded runs every component in this process on 127.0.0.1:0. It starts in
// milliseconds and needs nothing installed.
type embedded struct {
	mu       sync.Mutex
	toxi     *toxiproxy.ApiServer
	toxiHTTP *http.Server
	toxiURL  string
}

func newEmbedded(context.Context, *Lab) (Backend, error) { return &embedded{}, nil }

func (e *embedded) Name() string { return DefaultBackend }

func (e *embedded) Has(c Capability) bool {
	if hostKongSelected(e, GatewayOptions{}) { // GATEWAY=kong: real Kong as a host process
		return c == CapRealKong
	}
	return c == CapGatewayEmulation
}

func (e *embedded) StartFake(ctx context.Context, cfg fakes.Config) (Service, error) {
	name, args := cfg.Fake(), cfg.Args()
	def, ok := fakes.Lookup(name)
	if !ok {
		return nil, fmt.Errorf("unknown fake %q: valid fakes are %s", name, strings.Join(fakes.Names(), ", "))
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	start := def.Flags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("fake %s: %w", name, err)
	}
	out, errb := lines.New(10000), lines.New(10000)
	srv, err := start(fakes.WithOutput(ctx, out, errb))
	if err != nil {
		return nil, fmt.Errorf("fake %s: %w", name, err)
	}
	return &inProcess{Server: srv, out: out, err: errb, killedFlag: killedFlag{close: srv.Close}}, nil
}

type inProcess struct {
	fakes.Server
	out, err   *lines.Buffer
	killedFlag // Mortal: only Kill ends an in-process fake early
}

func (p *inProcess) Stdout() []string { return p.out.Lines() }
func (p *inProcess) Stderr() []string { return p.err.Lines() }

// Toxiproxy embeds toxiproxy's own server and serves its HTTP API on a
// loopback port, so the lab drives it exactly as it drives a toxiproxy
// container: through the official client.
func (e *embedded) Toxiproxy(ctx context.Context) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.toxiURL != "" {
		return e.toxiURL, nil
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("toxiproxy api: %w", err)
	}
	e.toxi = toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	e.toxiHTTP = &http.Server{Handler: e.toxi.Routes()}
	go func() { _ = e.toxiHTTP.Serve(ln) }()
	e.toxiURL = "http://" + ln.Addr().String()
	return e.toxiURL, nil
}

func (e *embedded) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.toxi == nil {
		return nil
	}
	// Clear stops every proxy: listeners and the links of open connections.
	err := e.toxi.Collection.Clear()
	if cerr := e.toxiHTTP.Close(); cerr != nil && !errors.Is(cerr, http.ErrServerClosed) {
		err = errors.Join(err, cerr)
	}
	e.toxi, e.toxiURL = nil, ""
	return err
}
