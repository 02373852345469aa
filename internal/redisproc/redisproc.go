// Package redisproc runs a real Redis (Debian's redis-server) as a child
// process on 127.0.0.1 for a lab: no persistence, its own process group,
// killed with its parent, its directory removed on Close.
package redisproc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/chaoslab/chaoslab/internal/resp"
)

// ErrNotInstalled means there is no redis-server to run.
var ErrNotInstalled = errors.New("redis-server not installed: apt-get install redis-server")

// Binary finds redis-server: CHAOSLAB_REDIS_SERVER, else PATH, else
// /usr/bin/redis-server (Debian's; /usr/sbin is not always on root's PATH).
func Binary() (string, error) {
	if p := os.Getenv("CHAOSLAB_REDIS_SERVER"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%w (CHAOSLAB_REDIS_SERVER=%s: %v)", ErrNotInstalled, p, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/redis-server"); err == nil {
		return "/usr/bin/redis-server", nil
	}
	return "", ErrNotInstalled
}

// Redis is a running redis-server.
type Redis struct {
	Addr    string // 127.0.0.1:PORT
	Version string // "7.0.15"

	dir       string
	cmd       *exec.Cmd
	exited    chan struct{}
	out       *tailBuffer
	closeOnce sync.Once
	closeErr  error
}

// Start runs redis-server with its working directory under dir (created,
// and removed on Close), waiting (bounded) until it answers PING.
func Start(ctx context.Context, dir string) (*Redis, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	var lastErr error
	for try := 0; try < 3; try++ { // a free port can be taken before redis binds it
		r, err := start(ctx, bin, dir)
		if err == nil {
			return r, nil
		}
		lastErr = err
		if !strings.Contains(err.Error(), "in use") {
			break
		}
	}
	return nil, lastErr
}

func start(ctx context.Context, bin, dir string) (*Redis, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("redis: free port: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	r := &Redis{Addr: "127.0.0.1:" + strconv.Itoa(port), dir: dir, exited: make(chan struct{}), out: &tailBuffer{}}
	// Loopback only, no snapshots or AOF, no config file: everything it
	// needs is on the command line.
	r.cmd = exec.Command(bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--protected-mode", "yes",
		"--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no", "--loglevel", "notice")
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := r.cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("redis: %w", err)
	}
	go func() { _ = r.cmd.Wait(); close(r.exited) }()
	if err := r.waitReady(ctx); err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("redis on %s: %w: %s", r.Addr, err, r.out.tail())
	}
	return r, nil
}

func (r *Redis) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-r.exited:
			return errors.New("redis-server exited during start")
		case <-ctx.Done():
			return fmt.Errorf("no PONG: %w", ctx.Err())
		case <-tick.C:
		}
		c, err := resp.Dial(ctx, r.Addr, time.Second, nil)
		if err != nil {
			continue
		}
		v, err := c.Do("PING")
		if err == nil && v == "PONG" {
			if info, err := c.Do("INFO", "server"); err == nil {
				r.Version = infoField(fmt.Sprint(info), "redis_version")
			}
			_ = c.Close()
			return nil
		}
		_ = c.Close()
	}
}

func infoField(info, key string) string {
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), key+":"); ok {
			return v
		}
	}
	return ""
}

// Pid is redis-server's pid.
func (r *Redis) Pid() int { return r.cmd.Process.Pid }

// Output is what redis-server printed so far (its log).
func (r *Redis) Output() []string { return r.out.lines() }

// Close stops redis-server (SIGTERM, a bounded wait, SIGKILL) and removes
// its directory. Idempotent.
func (r *Redis) Close() error {
	r.closeOnce.Do(func() {
		pgid := r.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-r.exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-r.exited
		}
		r.closeErr = os.RemoveAll(r.dir)
	})
	return r.closeErr
}

// tailBuffer keeps redis-server's output (bounded).
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if len(t.buf) > 64<<10 {
		t.buf = append(t.buf[:0:0], t.buf[len(t.buf)-32<<10:]...)
	}
	return len(b), nil
}

func (t *tailBuffer) lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(string(t.buf))
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func (t *tailBuffer) tail() string {
	l := t.lines()
	if len(l) > 5 {
		l = l[len(l)-5:]
	}
	return strings.Join(l, " | ")
}

// Dir is where redis-server runs.
func (r *Redis) Dir() string { return filepath.Clean(r.dir) }
