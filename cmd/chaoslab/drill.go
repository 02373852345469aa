package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/chaoslab/chaoslab/lab"
	"github.com/chaoslab/chaoslab/scenarios"
	"github.com/chaoslab/chaoslab/scenarios/drill"
)

func init() {
	register("drill", "incident exercises for trainees: chaoslab drill list|start ID|status|hint|check|set KEY=VALUE|stop", runDrill)
}

const drillUsage = `usage: chaoslab drill COMMAND [--state-dir DIR]
  list                       the drills: family, difficulty, tools
  start ID [--backend embedded] [--cluster kwok] [--gateway emulation|kong] [--time-limit 2h]
                             bring the incident up in the background; prints the ticket and addresses
  status [--json]            the running drill, its addresses, time left
  hint                       the next hint (each call reveals one more)
  check                      run the recovery assertions against the live lab: pass/fail with evidence
  set KEY=VALUE              change a platform setting that has no real interface (set alone lists them)
  stop                       tear everything down (the debrief page is kept under STATE/debriefs)
The state directory is --state-dir, else $` + drill.EnvStateDir + `, else ~/.local/state/chaoslab.`

// errCheckFailed ends `drill check` with exit 1 after the evidence was printed.
var errCheckFailed = errors.New("check failed")

func runDrill(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, drillUsage)
		return errUsage
	}
	sub, rest := args[0], args[1:]
	fs := newFlags("drill "+sub, stderr)
	stateDir := fs.String("state-dir", "", "the drills' state directory (default $"+drill.EnvStateDir+" or ~/.local/state/chaoslab)")
	asJSON := fs.Bool("json", false, "status: print the drill's state as JSON (addresses, pid, deadline)")
	var backend, clusterName, gateway *string
	var timeLimit, wait *time.Duration
	if sub == "start" || sub == "daemon" {
		backend = fs.String("backend", lab.DefaultBackend, "lab backend")
		clusterName = fs.String("cluster", lab.DefaultCluster(), "cluster provider for drills that need one (kwok, node, kind, existing)")
		gateway = fs.String("gateway", "", "gateway: emulation or kong (default $"+lab.EnvGateway+")")
		timeLimit = fs.Duration("time-limit", 2*time.Hour, "the drill stops itself after this long, also when nobody stops it")
		wait = fs.Duration("wait", 5*time.Minute, "how long to wait for the briefing")
	}
	// Flags may come before or after the positional arguments.
	var pos []string
	for len(rest) > 0 {
		if err := fs.Parse(rest); err != nil {
			return errUsage
		}
		rest = fs.Args()
		if len(rest) > 0 {
			pos, rest = append(pos, rest[0]), rest[1:]
		}
	}
	dir, err := drill.StateDir(*stateDir)
	if err != nil {
		return err
	}
	c := drill.NewClient(dir)
	switch sub {
	case "list":
		return drillList(stdout)
	case "start":
		if len(pos) != 1 {
			return fmt.Errorf("start needs one drill id (chaoslab drill list shows them)")
		}
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		dargs := []string{"drill", "daemon", "--state-dir", dir, "--backend", *backend, "--cluster", *clusterName,
			"--time-limit", timeLimit.String(), pos[0]}
		var env []string
		if *gateway != "" {
			env = append(env, lab.EnvGateway+"="+*gateway)
		}
		t0 := time.Now()
		st, err := drill.Start(ctx, drill.StartConfig{StateDir: dir, ID: pos[0], Backend: *backend, Cluster: *clusterName,
			TimeLimit: *timeLimit, Wait: *wait, Exe: exe, Args: dargs, Env: env})
		if err != nil {
			return err
		}
		printBriefing(stdout, st)
		fmt.Fprintf(stdout, "(briefing %.1f s after start)\n", time.Since(t0).Seconds())
		return nil
	case "daemon":
		if len(pos) != 1 {
			return fmt.Errorf("daemon needs the drill id")
		}
		return drill.RunDaemon(ctx, drill.DaemonConfig{StateDir: dir, ID: pos[0], Backend: *backend, Cluster: *clusterName, TimeLimit: *timeLimit})
	case "status":
		st, err := c.Status(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(st)
		}
		fmt.Fprintf(stdout, "drill %s (%s): %s; hints %d of %d; %d check(s); stops itself at %s (in %s)\n",
			st.ID, st.Difficulty, st.State, st.HintsUsed, st.HintsTotal, st.Checks,
			st.Deadline.Format("15:04:05"), time.Until(st.Deadline).Round(time.Second))
		if st.Briefing != nil {
			printAddresses(stdout, st)
		}
		if st.Debrief != "" {
			fmt.Fprintf(stdout, "debrief: %s\n", st.Debrief)
		}
		return nil
	case "hint":
		h, err := c.Hint(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "hint %d of %d:\n%s\n", h.N, h.Total, indent(h.Text))
		if !h.More {
			fmt.Fprintln(stdout, "(that was the last hint)")
		}
		return nil
	case "check":
		a, err := c.Check(ctx)
		if err != nil {
			return err
		}
		printCheck(stdout, a.Check)
		if a.Debrief != nil {
			a.Debrief.WriteText(stdout)
		}
		if !a.Check.Passed {
			return errCheckFailed
		}
		return nil
	case "set":
		if len(pos) == 0 {
			ss, err := c.Settings(ctx)
			if err != nil {
				return err
			}
			if len(ss) == 0 {
				fmt.Fprintln(stdout, "this drill has no platform settings: fix it through the interfaces in the briefing")
			}
			for _, s := range ss {
				fmt.Fprintf(stdout, "%s\t%s\n", s["key"], s["doc"])
			}
			return nil
		}
		key, value, ok := strings.Cut(pos[0], "=")
		if !ok || key == "" || len(pos) > 1 {
			return fmt.Errorf("set takes one KEY=VALUE, got %q", strings.Join(pos, " "))
		}
		// A file named relative to the trainee's directory (bundle.pem) is
		// sent as an absolute path: the drill runs elsewhere.
		if !filepath.IsAbs(value) {
			if _, err := os.Stat(value); err == nil {
				if abs, err := filepath.Abs(value); err == nil {
					value = abs
				}
			}
		}
		if err := c.Set(ctx, key, value); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s=%s applied\n", key, value)
		return nil
	case "stop":
		st, _ := c.Status(ctx)
		if err := c.Stop(ctx); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "drill stopped: lab, background load and the drill's directory are gone")
		if st != nil && st.Debrief != "" {
			fmt.Fprintf(stdout, "debrief kept under %s\n", dir+"/debriefs")
		}
		return nil
	}
	fmt.Fprintf(stderr, "chaoslab drill: unknown command %q\n%s\n", sub, drillUsage)
	return errUsage
}

func drillList(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tFAMILY\tDIFFICULTY\tTOOLS\tNEEDS")
	for _, e := range scenarios.Drills() {
		needs := ""
		if e.NeedsCluster {
			needs = "a cluster (--cluster kwok)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.ID, e.Family(), e.Drill.Difficulty, strings.Join(e.Drill.Tools, ", "), needs)
	}
	return tw.Flush()
}

func printBriefing(w io.Writer, st *drill.Status) {
	b := st.Briefing
	fmt.Fprintf(w, "Drill %s (%s) is live.\n\nTicket:\n%s\n\n", st.ID, st.Difficulty, indent(wrap(b.Ticket, 96)))
	printAddresses(w, st)
	fmt.Fprintf(w, "\nBackground traffic keeps running. chaoslab drill hint | check | status | stop. "+
		"The drill stops itself at %s.\n", st.Deadline.Format("15:04:05"))
}

func printAddresses(w io.Writer, st *drill.Status) {
	b := st.Briefing
	fmt.Fprintln(w, "You may use:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, a := range b.Addresses {
		v := ""
		if a.Var != "" {
			v = "($" + a.Var + " in hints)"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", a.Name, a.Value, v)
	}
	_ = tw.Flush()
	if b.Gateway != "" {
		fmt.Fprintf(w, "  gateway: %s\n", b.Gateway)
	}
	if len(b.Logs) > 0 {
		fmt.Fprintln(w, "Logs (appended every second):")
		for _, l := range b.Logs {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
	if len(b.Settings) > 0 {
		fmt.Fprintln(w, "Platform settings (chaoslab drill set KEY=VALUE):")
		for _, s := range b.Settings {
			fmt.Fprintf(w, "  %s\n", s)
		}
	}
}

func printCheck(w io.Writer, c *scenarios.CheckResult) {
	verdict := "PASS"
	if !c.Passed {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "check %d: %s (phase %s, %.1f s)\n", c.N, verdict, c.Phase, c.Duration.Seconds())
	for _, a := range c.Assertions {
		mark := "ok  "
		if !a.Passed {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "  %s %s: expected %s, measured %s\n", mark, a.Description, a.Expected, oneLine(a.Measured))
	}
	for _, m := range c.Measurements {
		fmt.Fprintf(w, "  measured %s: %.4g %s\n", m.Name, m.Value, m.Unit)
	}
	if !c.Passed {
		fmt.Fprintf(w, "  %s\n", oneLine(c.Reason))
	}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func indent(s string) string { return "  " + strings.ReplaceAll(s, "\n", "\n  ") }

func wrap(s string, width int) string {
	var b strings.Builder
	n := 0
	for _, w := range strings.Fields(s) {
		if n > 0 && n+1+len(w) > width {
			b.WriteByte('\n')
			n = 0
		} else if n > 0 {
			b.WriteByte(' ')
			n++
		}
		b.WriteString(w)
		n += len(w)
	}
	return b.String()
}
