package kwokctl

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Create runs `kwokctl create cluster` and returns when the control plane is
// ready (kwokctl --wait polls the apiserver's readiness). kwokctl's own output
// goes to log.
func Create(ctx context.Context, c Config, log io.Writer) error {
	conf, err := c.YAML()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.WorkDir, 0o755); err != nil {
		return err
	}
	confPath := filepath.Join(c.WorkDir, "kwokctl.yaml")
	if err := os.WriteFile(confPath, conf, 0o644); err != nil {
		return err
	}
	return run(ctx, c, log, "create", "cluster", "--name", c.Name, "--config", confPath, "--wait", "120s")
}

// Delete runs `kwokctl delete cluster`, which kills every component by its pid
// file and removes the cluster's directory.
func Delete(ctx context.Context, c Config, log io.Writer) error {
	if _, err := os.Stat(c.ClusterDir()); os.IsNotExist(err) {
		return nil
	}
	return run(ctx, c, log, "delete", "cluster", "--name", c.Name)
}

func run(ctx context.Context, c Config, log io.Writer, args ...string) error {
	argv := append([]string{filepath.Join(c.ToolsDir, "kwokctl")}, args...)
	if len(c.Wrap) > 0 {
		argv = append(append([]string(nil), c.Wrap...), argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(),
		"KWOK_WORKDIR="+c.WorkDir,
		"KWOK_KUBE_VERSION="+c.KubeVersion,
		"KWOK_RUNTIME=binary",
	)
	var out strings.Builder
	w := io.Writer(&out)
	if log != nil {
		w = io.MultiWriter(&out, log)
	}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("kwokctl %s: %w: %s", strings.Join(args[:2], " "), err, lastLines(out.String(), 5))
	}
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
