// Package realkong runs real Kong 3.9.1, built by scripts/kong.sh, as a host
// process the lab owns: DB-less with the lab's kong.yml, listeners on
// 127.0.0.1, nginx in the foreground in its own process group, logs read from
// the real error.log and access.log.
package realkong

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// Version is the Kong release scripts/kong.sh builds.
const Version = "3.9.1"

// ErrNotBuilt means scripts/kong.sh has not built Kong for the current inputs.
var ErrNotBuilt = errors.New("real Kong not built: run make kong")

// Install is a built Kong prefix ($P of scripts/kong.sh).
type Install struct {
	Prefix string
}

// FindInstall locates the built Kong: CHAOSLAB_KONG_PREFIX when set, else the
// directory `scripts/kong.sh --print-dir` names (the cache key covers every
// input, so a stale build is not picked up). A prefix without the
// `.complete` stamp is not built.
func FindInstall() (Install, error) {
	dir := os.Getenv("CHAOSLAB_KONG_PREFIX")
	if dir == "" {
		script, err := findScript()
		if err != nil {
			return Install{}, err
		}
		out, err := exec.Command("bash", script, "--print-dir").Output()
		if err != nil {
			return Install{}, fmt.Errorf("%s --print-dir: %w", script, err)
		}
		dir = strings.TrimSpace(string(out))
	}
	in := Install{Prefix: dir}
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err != nil {
		return Install{}, ErrNotBuilt
	}
	return in, nil
}

// findScript finds scripts/kong.sh from the working directory upwards (go
// test runs in the package directory), then beside this source file.
func findScript() (string, error) {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		starts = append(starts, filepath.Dir(file))
	}
	for _, d := range starts {
		for ; ; d = filepath.Dir(d) {
			p := filepath.Join(d, "scripts", "kong.sh")
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return "", fmt.Errorf("%w (scripts/kong.sh not found; set CHAOSLAB_KONG_PREFIX)", ErrNotBuilt)
}

// LuaPath, LuaCPath are the module paths kong-env.sh exports (without ";;").
func (in Install) LuaPath() string {
	s := filepath.Join(in.Prefix, "share/lua/5.1")
	l := filepath.Join(in.Prefix, "openresty/lualib")
	return strings.Join([]string{s + "/?.lua", s + "/?/init.lua", l + "/?.lua", l + "/?/init.lua",
		"/usr/share/lua/5.1/?.lua", "/usr/share/lua/5.1/?/init.lua"}, ";")
}

func (in Install) LuaCPath() string {
	return strings.Join([]string{filepath.Join(in.Prefix, "lib/lua/5.1/?.so"),
		filepath.Join(in.Prefix, "openresty/lualib/?.so"), "/usr/lib/x86_64-linux-gnu/lua/5.1/?.so"}, ";")
}

// Plugins is the comma-separated list of bundled plugins that load.
func (in Install) Plugins() (string, error) {
	b, err := os.ReadFile(filepath.Join(in.Prefix, "kong-plugins.txt"))
	return strings.TrimSpace(string(b)), err
}

// Nginx is the OpenResty nginx binary.
func (in Install) Nginx() string { return filepath.Join(in.Prefix, "openresty/nginx/sbin/nginx") }

// env is the process environment for the kong CLI and nginx: the caller's,
// without KONG_* (a user's settings must not change the lab's Kong), plus
// what kong-env.sh sets.
func (in Install) env(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "KONG_") || strings.HasPrefix(kv, "LUA_PATH=") || strings.HasPrefix(kv, "LUA_CPATH=") {
			continue
		}
		if strings.HasPrefix(kv, "PATH=") {
			kv = "PATH=" + filepath.Join(in.Prefix, "openresty/bin") + ":" + filepath.Join(in.Prefix, "bin") + ":" + kv[len("PATH="):]
		}
		out = append(out, kv)
	}
	out = append(out, "LUA_PATH="+in.LuaPath()+";;", "LUA_CPATH="+in.LuaCPath()+";;")
	return append(out, extra...)
}
