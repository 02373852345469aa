package scenarios

import (
	"context"
	"errors"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/chaoslab/chaoslab/fakes/upstream"
	"github.com/chaoslab/chaoslab/internal/listeners"
	"github.com/chaoslab/chaoslab/internal/procs"
	"github.com/chaoslab/chaoslab/internal/turns"
	"github.com/chaoslab/chaoslab/lab"
	"github.com/chaoslab/chaoslab/lab/docker"
)

// TestNothingOutlivesClose starts a lab on each backend, gateway and
// cluster provider, notes every process and container it runs, closes it,
// and checks at the moment Close returns that none of them is left: Close
// waits for what it stops (SIGTERM, bounded wait, SIGKILL), it does not
// merely signal.
func TestNothingOutlivesClose(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real Kong, containers and control planes: skipped in -short mode")
	}
	for _, c := range []struct {
		name, backend, gateway, cluster string
	}{
		{"embedded/emulation", "embedded", "emulation", ""},
		{"embedded/kong-host-process", "embedded", "kong", ""},
		{"docker/emulation", "docker", "emulation", ""},
		{"docker/kong-container", "docker", "kong", ""},
		{"embedded/cluster-kwok", "embedded", "emulation", "kwok"},
		{"embedded/cluster-node", "embedded", "emulation", "node"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.cluster != "" {
				turns.Take(t)
			}
			t.Setenv(lab.EnvGateway, c.gateway)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			dir, err := os.MkdirTemp("", "cl-close-") // short: Kong's unix sockets live under it
			if err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(dir)
			self := os.Getpid()
			before := procs.Descendants(self)
			l, err := lab.New(ctx, lab.WithBackend(c.backend), lab.WithDir(dir))
			if err != nil {
				if errors.Is(err, docker.ErrUnavailable) {
					t.Skip(err.Error())
				}
				t.Fatal(err)
			}
			defer l.Close()
			up, err := l.Upstream(ctx, "api", upstream.Config{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = l.Gateway(ctx, "_format_version: \"3.0\"\nservices:\n- name: api\n  url: "+up.URL()+
				"\n  routes:\n  - name: api\n    paths: [/api]\n")
			if lab.IsRealKongNotBuilt(err) {
				t.Skip(err.Error())
			}
			if err != nil {
				t.Fatal(err)
			}
			var clusterDir string
			if c.cluster != "" {
				cl, unavailable, err := l.Cluster(ctx, c.cluster)
				if err != nil {
					t.Fatal(err)
				}
				if unavailable != "" {
					t.Skip(unavailable)
				}
				clusterDir = cl.Dir
			}
			// Every process of the run: what this process started (real
			// Kong, metrics-server, nsenter'd daemons) and what names the
			// cluster's directory (kwokctl's control plane, reparented to init).
			run := newProcs(procs.Descendants(self), before)
			if clusterDir != "" {
				run = append(run, procs.Mentioning(clusterDir)...)
			}
			var runID string
			if b, ok := l.Backend().(interface{ RunID() string }); ok {
				runID = b.RunID()
			}
			var containers []string
			if runID != "" {
				containers = containersOf(t, runID)
			}
			switch {
			case c.gateway == "kong" && c.backend == "embedded" && len(run) == 0:
				t.Fatal("real Kong runs, yet no process of the run was found: the check would prove nothing")
			case c.cluster != "" && len(run) == 0:
				t.Fatal("a cluster runs, yet no process of the run was found: the check would prove nothing")
			case c.backend == "docker" && len(containers) == 0:
				t.Fatal("a docker lab runs, yet no container carries its run label: the check would prove nothing")
			}
			t0 := time.Now()
			if err := l.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			took := time.Since(t0)
			// Right now, not a moment later.
			left := procs.Alive(run)
			left = append(left, newProcs(procs.Descendants(self), before)...)
			if clusterDir != "" {
				left = append(left, procs.Mentioning(clusterDir)...)
			}
			var leftC []string
			if runID != "" {
				leftC = containersOf(t, runID)
			}
			t.Logf("%d processes and %d containers of the run; Close took %s; left at its return: %d processes, %d containers",
				len(run), len(containers), took.Round(time.Millisecond), len(left), len(leftC))
			if len(left) > 0 {
				t.Errorf("processes of the run alive when Close returned: %v", left)
			}
			if len(leftC) > 0 {
				t.Errorf("containers of the run left when Close returned: %v", leftC)
			}
		})
	}
}

func listenSet(t *testing.T, pid int) []string {
	t.Helper()
	socks, err := listeners.Of(pid)
	if err != nil {
		t.Skipf("listeners not readable from /proc: %v", err)
	}
	var out []string
	for _, s := range socks {
		out = append(out, s.String())
	}
	sort.Strings(out)
	return out
}

func diff(now, before []string) []string {
	seen := map[string]bool{}
	for _, s := range before {
		seen[s] = true
	}
	var out []string
	for _, s := range now {
		if !seen[s] {
			out = append(out, s)
		}
	}
	return out
}

func newProcs(now, before []procs.Proc) []procs.Proc {
	seen := map[procs.Proc]bool{}
	for _, p := range before {
		seen[p] = true
	}
	var out []procs.Proc
	for _, p := range now {
		if !seen[p] {
			out = append(out, p)
		}
	}
	return out
}

// containersOf lists the containers (running or not) labelled with a run.
func containersOf(t *testing.T, run string) []string {
	t.Helper()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatalf("docker client: %v", err)
	}
	defer cli.Close()
	cs, err := cli.ContainerList(context.Background(), container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", "chaoslab.run="+run))})
	if err != nil {
		t.Fatalf("docker: %v", err)
	}
	var out []string
	for _, c := range cs {
		out = append(out, strings.Join(c.Names, ",")+" "+c.State)
	}
	return out
}
