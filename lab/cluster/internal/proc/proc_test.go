package proc

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestKillUnderStopsOnlyProcessesMentioningTheDir(t *testing.T) {
	mine, other := t.TempDir(), t.TempDir()
	start := func(dir string) *exec.Cmd {
		f := filepath.Join(dir, "f")
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("tail", "-f", f)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { _ = cmd.Wait() }() // reap it so it does not linger as a zombie
		return cmd
	}
	a, b := start(mine), start(other)
	t.Cleanup(func() { _ = a.Process.Kill(); _ = b.Process.Kill() })

	if got := Under(mine); !slices.Equal(got, []int{a.Process.Pid}) {
		t.Fatalf("Under(mine) = %v, want [%d]", got, a.Process.Pid)
	}
	killed, err := KillUnder(mine, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(killed, []int{a.Process.Pid}) {
		t.Errorf("killed %v", killed)
	}
	deadline := time.Now().Add(2 * time.Second)
	for Alive(a.Process.Pid) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if Alive(a.Process.Pid) {
		t.Error("process under dir still alive")
	}
	if !Alive(b.Process.Pid) {
		t.Error("process under another dir was killed")
	}
	if Under("") != nil {
		t.Error("Under(\"\") must match nothing")
	}
}
