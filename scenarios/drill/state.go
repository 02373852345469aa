// Package drill runs a scenario as a trainee's incident exercise: the lab
// lives in a background process (a re-exec of the chaoslab binary in its
// own session, so it outlives `drill start` and the trainee's shell), one
// drill at a time per state directory, answering status, hint, check, set
// and stop over a Unix socket in that directory. The scenario side (phases,
// check, settings) is scenarios.Session; this package is the process
// around it and the CLI's client.
package drill

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// EnvStateDir overrides the state directory (tests use a temp dir).
const EnvStateDir = "CHAOSLAB_STATE_DIR"

// StateDir is where drills keep their state: flag, else $CHAOSLAB_STATE_DIR,
// else $XDG_STATE_HOME/chaoslab, else ~/.local/state/chaoslab.
func StateDir(flag string) (string, error) {
	if flag != "" {
		return filepath.Abs(flag)
	}
	if d := os.Getenv(EnvStateDir); d != "" {
		return filepath.Abs(d)
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "chaoslab"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no state directory: set %s or HOME (%v)", EnvStateDir, err)
	}
	return filepath.Join(home, ".local", "state", "chaoslab"), nil
}

// paths of one state directory.
type paths struct{ state string }

func (p paths) lock() string       { return filepath.Join(p.state, "drill.lock") }
func (p paths) dir() string        { return filepath.Join(p.state, "drill") } // the running drill's directory, 0700
func (p paths) socket() string     { return filepath.Join(p.dir(), "control.sock") }
func (p paths) logs() string       { return filepath.Join(p.dir(), "logs") }
func (p paths) lab() string        { return filepath.Join(p.dir(), "lab") }
func (p paths) daemonLog() string  { return filepath.Join(p.dir(), "daemon.log") }
func (p paths) debriefs() string   { return filepath.Join(p.state, "debriefs") } // kept after stop
func (p paths) debriefDir() string { return p.dir() }

// ErrNoDrill says no drill runs in this state directory.
var ErrNoDrill = errors.New("no drill running (chaoslab drill start ID starts one; chaoslab drill list shows them)")

// lockFile opens and exclusively locks the state directory's lock file
// without waiting. held reports that another drill holds it. The file is
// re-checked after locking: a daemon that ends removes it while holding
// the lock, and a lock on an unlinked file would protect nothing.
func lockFile(p paths) (f *os.File, held bool, err error) {
	if err := os.MkdirAll(p.state, 0o700); err != nil {
		return nil, false, fmt.Errorf("state directory %s: %w", p.state, err)
	}
	for range 10 {
		f, err := os.OpenFile(p.lock(), os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return nil, false, fmt.Errorf("lock file: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, true, nil
			}
			return nil, false, fmt.Errorf("locking %s: %w", p.lock(), err)
		}
		var a, b syscall.Stat_t
		if syscall.Fstat(int(f.Fd()), &a) == nil && syscall.Stat(p.lock(), &b) == nil && a.Ino == b.Ino {
			return f, false, nil
		}
		f.Close() // removed by an ending daemon between open and lock: again
	}
	return nil, false, fmt.Errorf("lock file %s keeps changing", p.lock())
}

// running reports whether a daemon holds the lock.
func running(p paths) bool {
	f, err := os.Open(p.lock())
	if err != nil {
		return false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		return errors.Is(err, syscall.EWOULDBLOCK)
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
}
