package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/chaoslab/chaoslab/fakes"
)

func init() {
	register("fake", "run one fake standalone until Ctrl-C: chaoslab fake NAME --help", runFake)
	register("gateway", "run the Kong-compatible gateway emulation: --config kong.yml --listen --admin-listen", func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		return runFake(ctx, append([]string{"gateway"}, args...), stdout, stderr)
	})
}

// runFake starts a registered fake, prints "listening on <url>" first (tools
// and tests wait for that line), then its start-up report as one
// machine-readable line (fakes.Ready), and serves until the context is
// cancelled by SIGINT/SIGTERM.
func runFake(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintf(stderr, "usage: chaoslab fake NAME [flags]\nfakes:\n")
		for _, n := range fakes.Names() {
			d, _ := fakes.Lookup(n)
			fmt.Fprintf(stderr, "  %-9s %s\n", n, d.Summary)
		}
		return errUsage
	}
	def, ok := fakes.Lookup(args[0])
	if !ok {
		return fmt.Errorf("unknown fake %q: valid fakes are %s", args[0], strings.Join(fakes.Names(), ", "))
	}
	fs := newFlags("fake "+def.Name, stderr)
	start := def.Flags(fs)
	if err := fs.Parse(args[1:]); err != nil {
		return errUsage
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	srv, err := start(fakes.WithOutput(ctx, stdout, stderr))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "listening on %s\n", srv.URL())
	fmt.Fprintln(stdout, fakes.ReadyOf(srv))
	<-ctx.Done()
	return srv.Close()
}
