// Package turns makes the tests that start a Kubernetes control plane or a real
// node take turns across test binaries.
//
// `go test ./...` runs two packages at a time on 2 cores. When two of them
// each started a kwok cluster (etcd, kube-apiserver, controller-manager,
// scheduler, kwok, metrics-server), both fought for the CPU: on a slow CI host
// the apiservers answered "request did not complete within requested timeout"
// and the tests timed out, although each passes alone. The lock is an flock on
// one file, so it is released when the test binary exits, however it exits.
package turns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Path is the lock file: under the user's cache (where the Kubernetes tools
// these tests need are built), else the temp directory.
func Path() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	} else {
		dir = filepath.Join(dir, "chaoslab")
	}
	return filepath.Join(dir, "cluster-tests.lock")
}

// Take waits until no other test (in this or another test binary) holds a
// turn, then holds it until t ends. It logs how long it waited.
func Take(t testing.TB) {
	t.Helper()
	unlock, waited, err := take(Path())
	if err != nil {
		t.Fatalf("taking a turn for a cluster test: %v", err)
	}
	if waited > 0 {
		t.Logf("waited %v for another test's cluster to finish (lock %s)", waited.Round(time.Millisecond), Path())
	}
	t.Cleanup(unlock)
}

func take(path string) (unlock func(), waited time.Duration, err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, 0, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, 0, err
	}
	fd := int(f.Fd())
	start := time.Now()
	err = syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		err = flockRetry(fd)
		waited = time.Since(start)
	}
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("flock %s: %w", path, err)
	}
	return func() {
		_ = syscall.Flock(fd, syscall.LOCK_UN)
		_ = f.Close()
	}, waited, nil
}

// flockRetry blocks for the lock, retrying when a signal interrupts the wait.
func flockRetry(fd int) error {
	for {
		err := syscall.Flock(fd, syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}
