package tools

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDirReportsMissingBinaries(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(EnvDir, dir)
	for _, b := range Binaries[:3] {
		if err := os.WriteFile(filepath.Join(dir, b), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	_, err := Dir()
	if !errors.Is(err, ErrNotBuilt) {
		t.Fatalf("err = %v, want ErrNotBuilt", err)
	}
	if !strings.Contains(err.Error(), "missing etcd, kwok, kwokctl, metrics-server") {
		t.Errorf("error does not list the missing binaries: %v", err)
	}
	for _, b := range Binaries[3:] {
		if err := os.WriteFile(filepath.Join(dir, b), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Dir()
	if err != nil || got != dir {
		t.Fatalf("Dir() = %q, %v", got, err)
	}
}

func TestDirAsksTheScript(t *testing.T) {
	t.Setenv(EnvDir, "")
	cache := t.TempDir()
	t.Setenv("CHAOSLAB_CACHE", cache)
	dir, err := Dir()
	// Nothing is built in an empty cache; the directory still comes from the script.
	if !errors.Is(err, ErrNotBuilt) {
		t.Fatalf("err = %v", err)
	}
	if !strings.HasPrefix(dir, filepath.Join(cache, "k8s-tools")+"/") {
		t.Errorf("dir %q is not under %s/k8s-tools", dir, cache)
	}
}
