package node

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Daemon is a long-running component started in the run's namespaces, its
// output in DIR/NAME.log.
type Daemon struct {
	Name string
	Log  string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// StartDaemon starts argv in e's namespaces.
func (e *Env) StartDaemon(name string, argv ...string) (*Daemon, error) {
	log := filepath.Join(e.Dir, name+".log")
	f, err := os.Create(log)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := e.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	// Own process group: a terminal's Ctrl-C reaches the lab, which stops the
	// daemons in order; Pdeathsig: a lab killed outright does not leave them.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	d := &Daemon{Name: name, Log: log, cmd: cmd, done: make(chan struct{})}
	go func() { d.err = cmd.Wait(); close(d.done) }()
	return d, nil
}

// Exited is closed when the daemon has exited.
func (d *Daemon) Exited() <-chan struct{} { return d.done }

// Pid is the daemon's process id.
func (d *Daemon) Pid() int { return d.cmd.Process.Pid }

// Stop sends SIGTERM, waits up to grace, then SIGKILL. Nil-safe, idempotent.
func (d *Daemon) Stop(grace time.Duration) error {
	if d == nil {
		return nil
	}
	select {
	case <-d.done:
		return nil
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
		return nil
	case <-time.After(grace):
	}
	_ = d.cmd.Process.Kill()
	select {
	case <-d.done:
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("%s (pid %d) survived SIGKILL", d.Name, d.Pid())
	}
}

// tail is the last n bytes of the daemon's log, for errors.
func (d *Daemon) tail(n int) string {
	b, _ := os.ReadFile(d.Log)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
