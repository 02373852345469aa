package conformance

import (
	"os"
	"path/filepath"
)

// realStart starts real Kong in a lab; it is set by the file that wires the
// kong branch's host-process driver (real_kong.go). Until then the real side
// is a plug that says what is missing.
var realStart func() Side

// KongBuilds are the real Kong installations scripts/kong.sh made.
func KongBuilds() []string {
	home, err := os.UserHomeDir()
	if err != nil {
		return nil
	}
	dirs, _ := filepath.Glob(filepath.Join(home, ".cache", "chaoslab", "kong-3.9.1-*"))
	return dirs
}

// RealKong is the reference side, or the one-line reason it cannot run.
func RealKong() (Side, string) {
	if len(KongBuilds()) == 0 {
		return Side{}, "real Kong not built: run make kong"
	}
	if realStart == nil {
		return Side{}, "real Kong is built but lab has no driver for it in this branch: merge the kong branch"
	}
	return realStart(), ""
}
