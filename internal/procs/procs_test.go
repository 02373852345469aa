package procs

import (
	"os/exec"
	"testing"
	"time"
)

func TestAliveTellsARunningChildFromAnExitedOne(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep binary: install coreutils")
	}
	mine := Matching(func(pid, _ int, _ string) bool { return pid == cmd.Process.Pid })
	if len(mine) != 1 || len(Alive(mine)) != 1 {
		t.Fatalf("the running child: matched %v, alive %v", mine, Alive(mine))
	}
	// A pid reused by another program is not the old process.
	other := mine[0]
	other.Start++
	if a := Alive([]Proc{other}); len(a) != 0 {
		t.Fatalf("a different start time counts as the same process: %v", a)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if a := Alive(mine); len(a) != 0 {
		t.Fatalf("the reaped child still counts as alive: %v", a)
	}
}

func TestRunningTellsZombiesFromLiveProcesses(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	if !Running(pid) {
		t.Fatal("a sleeping child should be running")
	}
	_ = cmd.Process.Kill()
	// Not waited for yet: a zombie, which has exited.
	for deadline := time.Now().Add(5 * time.Second); Running(pid) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if Running(pid) {
		t.Error("a killed, unreaped child (zombie) should not count as running")
	}
	_ = cmd.Wait()
	if Running(pid) || Running(0) || Running(-1) {
		t.Error("a reaped pid, 0 and -1 are not running")
	}
}
