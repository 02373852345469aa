package drill

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/chaoslab/chaoslab/internal/procs"
	"github.com/chaoslab/chaoslab/scenarios"
)

// StartConfig is `drill start`.
type StartConfig struct {
	StateDir  string
	ID        string
	Backend   string
	Cluster   string
	TimeLimit time.Duration
	// Wait bounds the time until the briefing (a cluster takes tens of
	// seconds to start).
	Wait time.Duration
	// Exe and Args start the daemon: the chaoslab binary and the arguments
	// that reach RunDaemon (the CLI passes `drill daemon ...`).
	Exe  string
	Args []string
	Env  []string // added to this process's environment (CHAOSLAB_GATEWAY=kong)
}

// Client talks to the drill of one state directory.
type Client struct{ p paths }

// NewClient is a client for the state directory dir.
func NewClient(dir string) *Client { return &Client{paths{dir}} }

// Start validates the drill, takes the state directory's lock, starts the
// daemon in its own session and waits for its briefing.
func Start(ctx context.Context, c StartConfig) (*Status, error) {
	if _, err := scenarios.LookupDrill(c.ID); err != nil {
		return nil, err
	}
	p := paths{c.StateDir}
	if n := len(p.socket()); n > 104 { // sun_path: 108 bytes on Linux, 104 on BSDs
		return nil, fmt.Errorf("state directory %s is too long for the drill's control socket (%d bytes, max 104): "+
			"pass a shorter --state-dir or $%s", c.StateDir, n, EnvStateDir)
	}
	lock, held, err := lockFile(p)
	if err != nil {
		return nil, err
	}
	if held {
		return nil, NewClient(c.StateDir).busy()
	}
	defer lock.Close()
	// No daemon holds the lock: whatever is left of a killed one goes.
	if err := os.RemoveAll(p.dir()); err != nil {
		return nil, fmt.Errorf("removing a stale drill directory: %w", err)
	}
	for _, d := range []string{p.dir(), p.logs(), p.lab()} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return nil, fmt.Errorf("drill directory: %w", err)
		}
	}
	logf, err := os.OpenFile(p.daemonLog(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	cmd := exec.Command(c.Exe, c.Args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{lock, w} // fd 3, fd 4
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	// The daemon keeps the trainee's working directory: the tools' cache
	// (scripts/k8s-tools.sh, scripts/kong.sh) is found from it, as for
	// every other chaoslab command.
	cmd.Env = append(os.Environ(), c.Env...)
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, fmt.Errorf("starting the drill's background process: %w", err)
	}
	w.Close()
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }() // reaps it if it ends while we wait

	type result struct {
		line startLine
		err  error
	}
	got := make(chan result, 1)
	go func() {
		var l startLine
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		if !sc.Scan() {
			got <- result{err: errors.New("the drill's background process ended without a briefing; see " + p.daemonLog())}
			return
		}
		err := json.Unmarshal(sc.Bytes(), &l)
		got <- result{line: l, err: err}
	}()
	wait := c.Wait
	if wait <= 0 {
		wait = 5 * time.Minute
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case res := <-got:
		if res.err != nil {
			return nil, res.err
		}
		if res.line.Error != "" {
			<-exited // it cleans up before exiting
			return nil, fmt.Errorf("the drill did not start: %s", res.line.Error)
		}
		return res.line.Status, nil
	case <-t.C:
		_ = NewClient(c.StateDir).Stop(context.Background())
		return nil, fmt.Errorf("no briefing within %s; the drill was stopped", wait)
	case <-ctx.Done():
		_ = NewClient(c.StateDir).Stop(context.Background())
		return nil, fmt.Errorf("interrupted; the drill was stopped")
	}
}

// busy says which drill holds the state directory.
func (c *Client) busy() error {
	st, err := c.Status(context.Background())
	if err != nil {
		return fmt.Errorf("a drill is already running in %s: chaoslab drill stop ends it", c.p.state)
	}
	return fmt.Errorf("a drill is already running: %s (%s since %s, stops itself at %s): chaoslab drill stop ends it",
		st.ID, st.State, st.StartedAt.Format("15:04:05"), st.Deadline.Format("15:04:05"))
}

func (c *Client) http() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", c.p.socket())
		},
		DisableKeepAlives: true,
	}}
}

// call does one request; a missing daemon is ErrNoDrill.
func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
	if !running(c.p) {
		return ErrNoDrill
	}
	var body bytes.Buffer
	if in != nil {
		_ = json.NewEncoder(&body).Encode(in)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://drill"+path, &body)
	if err != nil {
		return err
	}
	resp, err := c.http().Do(req)
	if err != nil {
		if !running(c.p) {
			return ErrNoDrill
		}
		return fmt.Errorf("the drill does not answer: %w", err)
	}
	defer resp.Body.Close()
	var raw json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		return fmt.Errorf("the drill's answer: %w", err)
	}
	if resp.StatusCode >= 300 && resp.StatusCode != http.StatusAccepted {
		var e struct{ Error string }
		_ = json.Unmarshal(raw, &e)
		return errors.New(strings.TrimSpace(e.Error))
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// Status is `drill status`.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var st Status
	return &st, c.call(ctx, "GET", "/status", nil, &st)
}

// Hint reveals the next hint.
func (c *Client) Hint(ctx context.Context) (*Hint, error) {
	var h Hint
	return &h, c.call(ctx, "POST", "/hint", nil, &h)
}

// Check runs the recovery assertions against the live lab.
func (c *Client) Check(ctx context.Context) (*CheckAnswer, error) {
	var a CheckAnswer
	return &a, c.call(ctx, "POST", "/check", nil, &a)
}

// Settings lists the drill's platform settings.
func (c *Client) Settings(ctx context.Context) ([]map[string]string, error) {
	var out []map[string]string
	return out, c.call(ctx, "GET", "/settings", nil, &out)
}

// Set changes a platform setting.
func (c *Client) Set(ctx context.Context, key, value string) error {
	return c.call(ctx, "POST", "/set", map[string]string{"Key": key, "Value": value}, nil)
}

// Stop ends the drill and waits until everything is torn down.
func (c *Client) Stop(ctx context.Context) error {
	pid := 0
	if st, err := c.Status(ctx); err == nil {
		pid = st.PID
	}
	if err := c.call(ctx, "POST", "/stop", nil, nil); err != nil {
		return err
	}
	// The daemon lets go of the lock as its last teardown step and exits
	// just after: wait for that too, so nothing of the drill is left when
	// stop returns.
	deadline := time.Now().Add(2 * time.Minute)
	for running(c.p) || procs.Running(pid) {
		if time.Now().After(deadline) {
			return errors.New("the drill did not end within 2m0s after stop")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}
