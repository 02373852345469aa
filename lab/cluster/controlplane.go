package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/chaoslab/chaoslab/lab/cluster/internal/kwokctl"
	"github.com/chaoslab/chaoslab/lab/cluster/internal/proc"
)

// stopOrder is the order a kwokctl control plane is stopped in: its
// clients first, then the kube-apiserver, etcd last. The apiserver must go
// before etcd: once etcd is gone it can ignore SIGTERM for 20 s, retrying.
var stopOrder = []string{"kube-scheduler", "kube-controller-manager", "kwok-controller", "kube-apiserver", "etcd"}

// stopControlPlane stops every process of a kwokctl control plane (from
// the pid files kwokctl wrote) in stopOrder, each with SIGTERM, a bounded
// wait (grace), then SIGKILL, and returns only once each has exited. It
// removes each pid file once its process is gone, so `kwokctl delete`
// afterwards never signals a pid the system has since given to another
// process. kwokctl itself only SIGKILLs and does not wait for the exit.
func stopControlPlane(conf kwokctl.Config, grace time.Duration) error {
	dir := filepath.Join(conf.ClusterDir(), "pids")
	files, _ := filepath.Glob(filepath.Join(dir, "*.pid"))
	rank := func(f string) int {
		name := strings.TrimSuffix(filepath.Base(f), ".pid")
		for i, n := range stopOrder {
			if n == name {
				return i
			}
		}
		return -1 // anything else kwokctl runs goes first
	}
	ordered := make([]string, 0, len(files))
	for r := -1; r < len(stopOrder); r++ {
		for _, f := range files {
			if rank(f) == r {
				ordered = append(ordered, f)
			}
		}
	}
	var errs []string
	for _, f := range ordered {
		pid, err := readPid(f)
		if err != nil {
			continue
		}
		if pid > 0 && mentions(pid, conf.WorkDir) {
			if err := stopPid(pid, grace); err != nil {
				errs = append(errs, strings.TrimSuffix(filepath.Base(f), ".pid")+": "+err.Error())
				continue
			}
		}
		_ = os.Remove(f)
	}
	if len(errs) > 0 {
		return fmt.Errorf("stopping the control plane: %s", strings.Join(errs, "; "))
	}
	return nil
}

// stopPid sends SIGTERM, waits up to grace, then SIGKILL and waits (bounded)
// until the process has exited.
func stopPid(pid int, grace time.Duration) error {
	_ = syscall.Kill(pid, syscall.SIGTERM)
	if waitGone(pid, grace) {
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	if waitGone(pid, 10*time.Second) {
		return nil
	}
	return fmt.Errorf("process %d survived SIGKILL for 10 s", pid)
}

func waitGone(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for proc.Alive(pid) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

func readPid(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// mentions reports whether pid's command line names dir: a pid file's pid
// is only signalled while it is still the process the cluster started.
func mentions(pid int, dir string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return err == nil && strings.Contains(string(b), filepath.Clean(dir))
}

// ControlPlaneProcess is one process of a local control plane (the
// kube-apiserver of a kwok or node cluster), for the lab's death watch.
type ControlPlaneProcess struct {
	Component string
	Pid       int
	workDir   string
}

// APIServer is the cluster's kube-apiserver when its provider runs it as a
// local process (kwok, node), else nil.
func (c *Cluster) APIServer() *ControlPlaneProcess {
	var conf kwokctl.Config
	switch impl := c.impl.(type) {
	case *kwokCluster:
		conf = impl.conf
	case *nodeCluster:
		conf = impl.conf
	default:
		return nil
	}
	pid, err := readPid(filepath.Join(conf.ClusterDir(), "pids", "kube-apiserver.pid"))
	if err != nil || !mentions(pid, conf.WorkDir) {
		return nil
	}
	return &ControlPlaneProcess{Component: "kube-apiserver", Pid: pid, workDir: conf.WorkDir}
}

// Exited reports whether the process has exited (or its pid now belongs to
// another program).
func (p *ControlPlaneProcess) Exited() (string, bool) {
	if proc.Alive(p.Pid) && mentions(p.Pid, p.workDir) {
		return "", false
	}
	return fmt.Sprintf("%s (pid %d) exited", p.Component, p.Pid), true
}

// Kill sends SIGKILL, as a crash or the OOM killer would.
func (p *ControlPlaneProcess) Kill() error {
	if !mentions(p.Pid, p.workDir) {
		return nil
	}
	return syscall.Kill(p.Pid, syscall.SIGKILL)
}

// createTries bounds createControlPlane's tries.
const createTries = 3

// createControlPlane runs `kwokctl create cluster`, and again (at most
// createTries in all) when kwokctl gave up on its CRDs because the
// kube-apiserver was not listening yet: kwokctl v0.8.0 retries that for
// about 3 s, which a busy machine exceeds (a cold CI run, compiling the
// tests beside it: "connection refused", then "failed to init crds ...:
// resource not handled"). Between tries the half-made control plane is
// stopped and deleted. Any other failure is returned at once.
func createControlPlane(ctx context.Context, conf kwokctl.Config, log io.Writer) error {
	for try := 1; ; try++ {
		err := kwokctl.Create(ctx, conf, log)
		if err == nil || try == createTries || ctx.Err() != nil || !strings.Contains(err.Error(), "failed to init crds") {
			return err
		}
		if log != nil {
			fmt.Fprintf(log, "chaoslab: kwokctl create: the kube-apiserver was not up in time (try %d of %d); deleting it and creating again\n", try, createTries)
		}
		if derr := errors.Join(stopControlPlane(conf, 5*time.Second), kwokctl.Delete(ctx, conf, log)); derr != nil {
			return errors.Join(err, derr)
		}
	}
}
