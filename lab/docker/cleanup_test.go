package docker

import (
	"bufio"
	"context"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chaoslab/chaoslab/fakes/upstream"

	"github.com/chaoslab/chaoslab/lab"
)

const helperEnv = "CHAOSLAB_DOCKER_HELPER"

// TestDockerHelperProcess is not a test: the tests below run the test binary
// again as a process holding a docker lab (an upstream, its fault proxy and
// the gateway, under load) until it is interrupted or killed.
func TestDockerHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		t.Skip("helper process for the Ctrl-C and cleanup tests")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	l, err := lab.New(ctx, lab.WithBackend(Name), lab.WithDir(os.Getenv(helperEnv)))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	up, err := l.Upstream(ctx, "api", upstream.Config{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := l.Gateway(ctx, "_format_version: \"3.0\"\nservices:\n- name: api\n  url: http://"+up.Addr()+"\n  routes:\n  - name: api\n    paths: [/api]\n")
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("run: " + runID(l) + "\nready\n")
	// Mid-run: requests keep flowing through the gateway until the signal.
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 2 * time.Second}
	for ctx.Err() == nil {
		if resp, err := hc.Get(g.ProxyURL() + "/api"); err == nil {
			resp.Body.Close()
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// startHelper runs TestDockerHelperProcess and returns once its lab is up,
// with the run id; it skips when no daemon answers.
func startHelper(t *testing.T) (*exec.Cmd, string) {
	t.Helper()
	if cli, err := dockerClient(context.Background()); err != nil {
		t.Skip(ErrUnavailable.Error())
	} else {
		cli.Close()
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestDockerHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+t.TempDir())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	run := ""
	deadline := time.After(3 * time.Minute)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("helper exited before its lab was up: %s", stderr.String())
			}
			if r, ok := strings.CutPrefix(l, "run: "); ok {
				run = r
			}
			if l == "ready" {
				go func() {
					for range lines { // keep draining so the helper never blocks on stdout
					}
				}()
				if got := dockerPS(t, run); len(got) != 3 {
					t.Fatalf("expected upstream, toxiproxy and gateway containers of run %s, got %v", run, got)
				}
				return cmd, run
			}
		case <-deadline:
			t.Fatalf("helper's lab not up after 3 minutes: %s", stderr.String())
		}
	}
}

// Ctrl-C during a docker run leaves nothing: the signal cancels the lab's
// context and Close removes every container and network of the run.
func TestDockerCtrlCLeavesNothing(t *testing.T) {
	cmd, run := startHelper(t)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("helper after SIGINT: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("helper still running a minute after SIGINT")
	}
	assertNoContainers(t, run)
}

// A run whose process was SIGKILLed leaves containers; `chaoslab cleanup`
// (CleanupLeftovers) removes them and leaves live runs alone.
func TestDockerCleanupRemovesDeadRunsOnly(t *testing.T) {
	live := newDockerLab(t)
	if _, err := live.Upstream(context.Background(), "live", upstream.Config{}); err != nil {
		t.Fatal(err)
	}
	cmd, dead := startHelper(t)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if len(dockerPS(t, dead)) == 0 {
		t.Fatal("a SIGKILLed run should have left containers behind (nothing to clean up: the test cannot fail)")
	}
	removed, err := CleanupLeftovers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(removed, func(s string) bool { return strings.HasSuffix(s, "(run "+dead+")") }) {
		t.Fatalf("removed %v, want the containers of run %s", removed, dead)
	}
	if slices.ContainsFunc(removed, func(s string) bool { return strings.Contains(s, runID(live)) }) {
		t.Fatalf("removed containers of a live run: %v", removed)
	}
	assertNoContainers(t, dead)
	if len(dockerPS(t, runID(live))) != 2 {
		t.Fatalf("the live run lost containers: %v", dockerPS(t, runID(live)))
	}
}

func TestPidAlive(t *testing.T) {
	if !pidAlive(strconv.Itoa(os.Getpid())) {
		t.Fatal("this process is alive")
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip(err)
	}
	if pidAlive(strconv.Itoa(cmd.Process.Pid)) || pidAlive("") || pidAlive("x") {
		t.Fatal("a reaped pid or a bad label is not alive")
	}
}
