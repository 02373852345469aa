package realkong

import (
	"fmt"
	"os"
	"path/filepath"
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

// maxPrefix is the longest prefix whose unix sockets fit sun_path (108
// bytes with the NUL): Kong puts them under <prefix>/sockets/, the longest
// being stream_tls_passthrough.sock.
const maxPrefix = 107 - len("/sockets/stream_tls_passthrough.sock")

// prefixDir makes Kong's prefix: <dir>/kong, or when that path is too long
// for Kong's unix sockets (nginx: "too long path in the unix domain socket",
// seen with a test's t.TempDir) a fresh short one in the OS temp dir. Close
// removes it either way.
func prefixDir(dir string) (string, error) {
	prefix := filepath.Join(dir, "kong")
	if len(prefix) <= maxPrefix {
		if err := os.RemoveAll(prefix); err != nil {
			return "", err
		}
		return prefix, os.MkdirAll(prefix, 0o755)
	}
	short, err := os.MkdirTemp("", "chaoslab-kong-")
	if err != nil {
		return "", err
	}
	if len(short) > maxPrefix {
		_ = os.RemoveAll(short)
		return "", fmt.Errorf("kong prefix %s: %d bytes, over the %d its unix sockets allow: set TMPDIR to a shorter directory", short, len(short), maxPrefix)
	}
	return short, nil
}
