// Package proc finds and stops the processes a lab started, by the unique
// directory their command lines mention (never by program name: other labs and
// other engineers run the same programs on this machine).
package proc

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/chaoslab/chaoslab/internal/procs"
)

// Under lists the pids whose command line mentions dir, except this process.
func Under(dir string) []int {
	if dir == "" {
		return nil
	}
	self := os.Getpid()
	needle := []byte(filepath.Clean(dir))
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmdline, needle) {
			continue
		}
		if !Alive(pid) { // exited, only waiting to be reaped
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

// KillUnder stops every process Under(dir): SIGTERM, then SIGKILL for those
// still alive after grace. It returns the pids that were signalled.
func KillUnder(dir string, grace time.Duration) ([]int, error) {
	pids := Under(dir)
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(grace)
	for {
		alive := pids[:0:0]
		for _, pid := range pids {
			if Alive(pid) {
				alive = append(alive, pid)
			}
		}
		if len(alive) == 0 {
			return pids, nil
		}
		if time.Now().After(deadline) {
			for _, pid := range alive {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			// A killed process takes a moment to exit (every thread must
			// unwind, a large one unmaps its memory): wait, bounded, so the
			// caller returns only once it is gone.
			killDeadline := time.Now().Add(10 * time.Second)
			for _, pid := range alive {
				for Alive(pid) {
					if time.Now().After(killDeadline) {
						return pids, errors.New("proc: process " + strconv.Itoa(pid) + " survived SIGKILL for 10 s")
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			return pids, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Alive reports whether pid exists and has not exited (procs.Running).
func Alive(pid int) bool { return procs.Running(pid) }
