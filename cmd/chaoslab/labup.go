package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/chaoslab/chaoslab/lab"
	"github.com/chaoslab/chaoslab/reports"
	"github.com/chaoslab/chaoslab/scenarios"
)

func init() {
	register("lab", "bring a scenario's lab up for a trainee: chaoslab lab up ID [--hold-after PHASE]", runLab)
}

// runLab starts a scenario's topology, prints its addresses and the
// diagnosis commands, optionally plays the phases up to one (the fault is
// then live), and keeps everything up until Ctrl-C.
func runLab(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "up" {
		fmt.Fprintln(stderr, "usage: chaoslab lab up SCENARIO-ID [--backend embedded] [--hold-after setup|baseline|fault|...]")
		return errUsage
	}
	fs := newFlags("lab up", stderr)
	backend := fs.String("backend", lab.DefaultBackend, "lab backend")
	holdAfter := fs.String("hold-after", "setup", "phase after which to hold the lab for poking at (\"fault\" keeps the fault on)")
	if len(args) < 2 {
		return fmt.Errorf("missing scenario id (chaoslab list shows them)")
	}
	if err := fs.Parse(args[2:]); err != nil {
		return errUsage
	}
	sc, err := scenarios.Lookup(args[1])
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s — %s\nsymptom: %s\n", sc.ID, sc.Title, sc.Symptom)
	res := scenarios.Execute(ctx, sc, scenarios.Options{Backend: *backend, HoldAfter: *holdAfter, Progress: stdout})
	if res.Verdict == reports.Failed {
		return fmt.Errorf("%s", res.Reason)
	}
	if res.Verdict == reports.Passed {
		fmt.Fprintf(stdout, "all phases ran (no phase named %q to hold after); lab torn down\n", *holdAfter)
	} else {
		fmt.Fprintln(stdout, "lab torn down")
	}
	_ = os.Stdout.Sync()
	return nil
}
