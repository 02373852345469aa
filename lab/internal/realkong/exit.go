package realkong

import (
	"fmt"
	"syscall"
)

// Exited reports whether nginx's master has exited (crashed, killed) and
// how; the lab's death watch asks it.
func (k *Kong) Exited() (string, bool) {
	select {
	case <-k.exited:
		return fmt.Sprintf("nginx master %d exited: %v", k.cmd.Process.Pid, k.waitErr), true
	default:
		return "", false
	}
}

// Kill stops master and workers with SIGKILL, as a crash or the OOM killer
// would; Close still reaps and removes everything afterwards.
func (k *Kong) Kill() error { return syscall.Kill(-k.cmd.Process.Pid, syscall.SIGKILL) }
