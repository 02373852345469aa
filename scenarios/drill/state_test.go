package drill

import (
	"os"
	"path/filepath"
	"testing"
)

func TestStateDirPrecedence(t *testing.T) {
	t.Setenv(EnvStateDir, "/tmp/from-env")
	t.Setenv("XDG_STATE_HOME", "/tmp/xdg")
	if d, _ := StateDir("/tmp/from-flag"); d != "/tmp/from-flag" {
		t.Errorf("flag: %s", d)
	}
	if d, _ := StateDir(""); d != "/tmp/from-env" {
		t.Errorf("env: %s", d)
	}
	t.Setenv(EnvStateDir, "")
	if d, _ := StateDir(""); d != "/tmp/xdg/chaoslab" {
		t.Errorf("XDG_STATE_HOME: %s", d)
	}
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("HOME", "/home/trainee")
	if d, _ := StateDir(""); d != "/home/trainee/.local/state/chaoslab" {
		t.Errorf("default: %s", d)
	}
}

// TestOneDrillPerStateDirectory: the lock is exclusive, and a lock file an
// ending daemon removed is not mistaken for a held one.
func TestOneDrillPerStateDirectory(t *testing.T) {
	p := paths{filepath.Join(t.TempDir(), "state")}
	f, held, err := lockFile(p)
	if err != nil || held {
		t.Fatalf("first lock: %v held=%v", err, held)
	}
	if fi, err := os.Stat(p.state); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("state directory mode: %v %v", err, fi.Mode())
	}
	if !running(p) {
		t.Error("running() = false while the lock is held")
	}
	if _, held, _ := lockFile(p); !held {
		t.Fatal("a second lock succeeded while the first is held")
	}
	os.Remove(p.lock()) // what an ending daemon does, still holding it
	f.Close()
	if running(p) {
		t.Error("running() = true after the lock was released")
	}
	g, held, err := lockFile(p)
	if err != nil || held {
		t.Fatalf("lock after release: %v held=%v", err, held)
	}
	g.Close()
}
