package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/chaoslab/chaoslab/lab/docker"
)

func init() {
	register("cleanup", "remove docker containers and networks left by dead chaoslab runs (--images: old chaoslab images too)", runCleanup)
	doctorChecks = append(doctorChecks, check{"docker leftovers", false, func(ctx context.Context) (bool, string) {
		runs, err := docker.DeadRuns(ctx)
		switch {
		case errors.Is(err, docker.ErrUnavailable):
			return true, "no daemon, nothing left"
		case err != nil:
			return false, err.Error()
		case len(runs) > 0:
			return false, fmt.Sprintf("containers of %d dead run(s) %s: run `chaoslab cleanup`", len(runs), strings.Join(runs, ", "))
		}
		return true, "no containers or networks of dead runs"
	}})
}

// runCleanup removes what docker labs of dead processes left behind (a
// SIGKILLed run never ran its Close). It is what `chaoslab doctor --cleanup`
// does once doctor has that flag: call cleanupDocker.
func runCleanup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("cleanup", stderr)
	images := fs.Bool("images", false, "also remove chaoslab images no container uses, keeping the newest of each")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	return cleanupDocker(ctx, *images, stdout)
}

// cleanupDocker prints one line per removed container, network or image and
// a summary; with no daemon it says so and succeeds (nothing can be left).
func cleanupDocker(ctx context.Context, images bool, stdout io.Writer) error {
	removed, err := docker.CleanupLeftovers(ctx)
	if errors.Is(err, docker.ErrUnavailable) {
		fmt.Fprintln(stdout, "nothing to clean up: "+err.Error())
		return nil
	}
	if images && err == nil {
		var more []string
		more, err = docker.PruneImages(ctx)
		removed = append(removed, more...)
	}
	for _, r := range removed {
		fmt.Fprintln(stdout, "removed "+r)
	}
	if err != nil {
		return err
	}
	if len(removed) == 0 {
		fmt.Fprintln(stdout, "nothing to clean up: no containers or networks of dead chaoslab runs")
	}
	return nil
}
