// Package tools finds the control-plane binaries scripts/k8s-tools.sh builds.
//
// The cache key (a hash of the tools modules' go.mod/go.sum and the build recipe)
// is computed by the script alone, so there is one definition of it: this package
// asks the script for the directory (`--print-dir`, which builds nothing) unless
// CHAOSLAB_K8S_TOOLS names the directory outright.
package tools

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// EnvDir overrides where the binaries are looked for.
const EnvDir = "CHAOSLAB_K8S_TOOLS"

// Binaries are the programs the kwok provider runs, as the script names them.
var Binaries = []string{
	"kube-apiserver", "kube-controller-manager", "kube-scheduler",
	"etcd", "kwok", "kwokctl", "metrics-server",
}

// NodeBinaries are what the node provider runs on top of Binaries: the
// kubelet and the pause binary of the pod sandbox image.
var NodeBinaries = []string{"kubelet", "pause"}

// ErrNotBuilt is wrapped by Dir when a binary is missing; its text is the one-line
// instruction tests skip with.
var ErrNotBuilt = errors.New("k8s tools not built: run make k8s-tools")

// Dir returns the directory holding every binary in Binaries.
func Dir() (string, error) {
	dir := os.Getenv(EnvDir)
	if dir == "" {
		var err error
		if dir, err = scriptDir(); err != nil {
			return "", err
		}
	}
	return dir, Check(dir)
}

// Check returns nil if dir holds every binary (and every extra one), else ErrNotBuilt naming the
// missing ones.
func Check(dir string, extra ...string) error {
	var missing []string
	for _, b := range append(append([]string(nil), Binaries...), extra...) {
		if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.Mode()&0o111 == 0 {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		return &NotBuiltError{Dir: dir, Missing: missing}
	}
	return nil
}

// NotBuiltError says which binaries are missing where; it matches ErrNotBuilt.
type NotBuiltError struct {
	Dir     string
	Missing []string
}

func (e *NotBuiltError) Error() string {
	return ErrNotBuilt.Error() + " (missing " + e.Detail() + ")"
}

// Detail is "kube-apiserver, etcd in DIR".
func (e *NotBuiltError) Detail() string { return strings.Join(e.Missing, ", ") + " in " + e.Dir }

func (e *NotBuiltError) Is(target error) bool { return target == ErrNotBuilt }

// scriptDir asks scripts/k8s-tools.sh, found by walking up from the working
// directory (tests run in their package directory, the CLI from the repo root).
func scriptDir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		script := filepath.Join(d, "scripts", "k8s-tools.sh")
		if _, err := os.Stat(script); err == nil {
			out, err := exec.Command("bash", script, "--print-dir").Output()
			if err != nil {
				return "", fmt.Errorf("%s --print-dir: %w", script, err)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			return lines[len(lines)-1], nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("%w (scripts/k8s-tools.sh not found above %s; or set %s)", ErrNotBuilt, wd, EnvDir)
		}
	}
}
