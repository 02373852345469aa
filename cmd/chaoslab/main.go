// Command chaoslab runs the lab's fakes and gateway standalone, brings a
// scenario's lab up for a trainee, lists the catalog, renders reports and
// checks the machine (doctor).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	// Every fake registers itself; the CLI, the embedded backend and the
	// container entrypoints all start them by name.
	_ "github.com/chaoslab/chaoslab/fakes/all"
)

type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{}

func register(name, summary string, run func(ctx context.Context, args []string, stdout, stderr io.Writer) error) {
	commands[name] = command{summary, run}
}

// errUsage is returned after a usage message was printed: exit 2, no more text.
var errUsage = errors.New("usage")

func main() {
	// SIGINT/SIGTERM cancel the context: every command tears down what it
	// started and exits 0 when the user asked it to stop.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "chaoslab: unknown command %q: valid commands are %s\n", args[0], strings.Join(names(), ", "))
		return 2
	}
	err := cmd.run(ctx, args[1:], stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage), errors.Is(err, flag.ErrHelp):
		return 2
	case errors.Is(err, errCheckFailed): // the evidence is already printed
		return 1
	default:
		fmt.Fprintf(stderr, "chaoslab %s: %v\n", args[0], err)
		return 1
	}
}

func names() []string {
	out := make([]string, 0, len(commands))
	for n := range commands {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "chaoslab reproduces production incidents on purpose and proves them with assertions.")
	fmt.Fprintln(w, "\nUsage: chaoslab COMMAND [flags]\n\nCommands:")
	for _, n := range names() {
		fmt.Fprintf(w, "  %-9s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun the catalog: make scenario [SCENARIO=<label filter>] [BACKEND=embedded|docker]")
}

// newFlags makes a flag set whose errors are returned, not printed and exited.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("chaoslab "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}
