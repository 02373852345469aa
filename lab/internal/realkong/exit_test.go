package realkong

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A lab directory too deep for Kong's unix sockets (a test's t.TempDir
// under a long test name) still starts Kong; Kill is seen by Exited, and
// Close removes the prefix wherever it was.
func TestLongDirKillExitedClose(t *testing.T) {
	in := install(t)
	dir := filepath.Join(t.TempDir(), strings.Repeat("a-very-long-lab-directory-name-", 3))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	k, err := Start(context.Background(), in, Options{Dir: dir, Config: writeConfig(t, dir, orders("http://127.0.0.1:9"))})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if len(k.prefix) > maxPrefix {
		t.Fatalf("prefix %s is %d bytes, over %d", k.prefix, len(k.prefix), maxPrefix)
	}
	if how, exited := k.Exited(); exited {
		t.Fatalf("a running Kong reports exited: %s", how)
	}
	if err := k.Kill(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		how, exited := k.Exited()
		if exited {
			if !strings.Contains(how, "killed") {
				t.Errorf("exit not described as a kill: %s", how)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Kong killed, but Exited still says running after 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(k.prefix); !os.IsNotExist(err) {
		t.Fatalf("prefix %s left after Close: %v", k.prefix, err)
	}
	if !gone(k.Pid()) {
		t.Fatal("processes of Kong's group left after Close")
	}
}
