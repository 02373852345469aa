package cluster

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chaoslab/chaoslab/lab/cluster/internal/kwokctl"
)

// fakeKwokctl is a kwokctl whose create fails as v0.8.0 does when the
// kube-apiserver is late ("failed to init crds") until try okAt, or with
// another error when other is set; it counts creates and deletes.
func fakeKwokctl(t *testing.T, okAt int, other bool) kwokctl.Config {
	t.Helper()
	tools, work := t.TempDir(), t.TempDir()
	fail := `echo '{"level":"ERROR","msg":"Execute exit","err":"failed to init crds \"c\": resource not handled"}'`
	if other {
		fail = `echo 'unknown flag --bogus'`
	}
	script := `#!/bin/sh
case "$1" in
create)
	echo x >> "$KWOK_WORKDIR/creates"
	mkdir -p "$KWOK_WORKDIR/clusters/c"
	if [ "$(wc -l < "$KWOK_WORKDIR/creates")" -lt ` + strconv.Itoa(okAt) + ` ]; then ` + fail + `; exit 1; fi ;;
delete)
	echo x >> "$KWOK_WORKDIR/deletes"
	rm -rf "$KWOK_WORKDIR/clusters/c" ;;
esac
`
	if err := os.WriteFile(filepath.Join(tools, "kwokctl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return kwokctl.Config{Name: "c", ToolsDir: tools, WorkDir: work, KubeVersion: KubeVersion}
}

func countLines(t *testing.T, path string) int {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}

func TestCreateControlPlaneRetriesALateAPIServer(t *testing.T) {
	conf := fakeKwokctl(t, 3, false)
	var log strings.Builder
	if err := createControlPlane(context.Background(), conf, &log); err != nil {
		t.Fatalf("third try should pass: %v", err)
	}
	if c, d := countLines(t, filepath.Join(conf.WorkDir, "creates")), countLines(t, filepath.Join(conf.WorkDir, "deletes")); c != 3 || d != 2 {
		t.Errorf("%d creates and %d deletes, want 3 and 2 (each failed try deleted)", c, d)
	}
	if !strings.Contains(log.String(), "not up in time (try 2 of 3)") {
		t.Errorf("the retries should be logged: %s", log.String())
	}

	conf = fakeKwokctl(t, 9, false)
	if err := createControlPlane(context.Background(), conf, nil); err == nil || !strings.Contains(err.Error(), "failed to init crds") {
		t.Errorf("after %d tries the last error should be returned, got %v", createTries, err)
	}
	if c := countLines(t, filepath.Join(conf.WorkDir, "creates")); c != createTries {
		t.Errorf("%d creates, want %d", c, createTries)
	}
}

func TestCreateControlPlaneReturnsOtherErrorsAtOnce(t *testing.T) {
	conf := fakeKwokctl(t, 3, true)
	if err := createControlPlane(context.Background(), conf, nil); err == nil || !strings.Contains(err.Error(), "unknown flag") {
		t.Fatalf("want kwokctl's own error, got %v", err)
	}
	if c := countLines(t, filepath.Join(conf.WorkDir, "creates")); c != 1 {
		t.Errorf("%d creates for an error that is not a late apiserver, want 1", c)
	}
}
