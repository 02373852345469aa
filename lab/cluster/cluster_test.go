package cluster_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/chaoslab/chaoslab/lab/cluster"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// klog's flush daemon starts with the first client-go import and lives
		// for the process.
		goleak.IgnoreTopFunction("k8s.io/klog/v2.(*flushDaemon).run.func1"),
	)
}

func TestLookup(t *testing.T) {
	for _, name := range []string{"kwok", "node", "kind", "existing"} {
		p, err := cluster.Lookup(name)
		if err != nil {
			t.Fatalf("Lookup(%q): %v", name, err)
		}
		if p.Name() != name {
			t.Errorf("Lookup(%q).Name() = %q", name, p.Name())
		}
	}
	_, err := cluster.Lookup("minikube")
	if err == nil {
		t.Fatal("Lookup of an unknown provider succeeded")
	}
	if want := `unknown cluster provider "minikube": valid providers are existing, kind, kwok, node`; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
}

func TestAvailableReasonsAreOneLine(t *testing.T) {
	t.Setenv(cluster.EnvKubeconfig, "")
	t.Setenv(cluster.EnvDefaultKubeconfig, "")
	providers := []cluster.Provider{
		&cluster.Kwok{ToolsDir: t.TempDir()},
		&cluster.Existing{},
		&cluster.Existing{Kubeconfig: filepath.Join(t.TempDir(), "missing")},
	}
	if ok, _ := (&cluster.Kind{}).Available(); !ok {
		providers = append(providers, &cluster.Kind{}) // no docker or no node image here
	}
	for _, p := range providers {
		ok, reason := p.Available()
		if ok {
			t.Errorf("%s: available, want unavailable", p.Name())
			continue
		}
		if reason == "" || strings.Contains(reason, "\n") {
			t.Errorf("%s: reason %q is not one line", p.Name(), reason)
		}
		t.Logf("%s: %s", p.Name(), reason)
	}
	_, reason := (&cluster.Kwok{ToolsDir: t.TempDir()}).Available()
	if !strings.Contains(reason, "make k8s-tools") {
		t.Errorf("kwok reason %q does not say to run make k8s-tools", reason)
	}
	_, reason = (&cluster.Existing{}).Available()
	if !strings.Contains(reason, cluster.EnvKubeconfig) {
		t.Errorf("existing reason %q does not name %s", reason, cluster.EnvKubeconfig)
	}
}

func TestCreateRejectsBadNames(t *testing.T) {
	for _, p := range []cluster.Provider{&cluster.Kwok{ToolsDir: t.TempDir()}, &cluster.Existing{}, &cluster.Kind{}} {
		_, err := p.Create(context.Background(), "Not_A_Label")
		if err == nil || !strings.Contains(err.Error(), "DNS label") {
			t.Errorf("%s: Create(bad name) error = %v", p.Name(), err)
		}
	}
}

func TestKwokCreateWithoutToolsFails(t *testing.T) {
	_, err := (&cluster.Kwok{ToolsDir: t.TempDir()}).Create(context.Background(), "x")
	if err == nil || !strings.Contains(err.Error(), "k8s tools not built: run make k8s-tools") {
		t.Fatalf("error = %v", err)
	}
}

func TestExistingCreateWithoutKubeconfigFails(t *testing.T) {
	t.Setenv(cluster.EnvKubeconfig, "")
	t.Setenv(cluster.EnvDefaultKubeconfig, "")
	_, err := (&cluster.Existing{}).Create(context.Background(), "x")
	if err == nil {
		t.Fatal("want error")
	}
}

func TestExistingPrefersChaoslabKubeconfig(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for _, p := range []string{a, b} {
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv(cluster.EnvKubeconfig, a)
	t.Setenv(cluster.EnvDefaultKubeconfig, b)
	if ok, reason := (&cluster.Existing{}).Available(); !ok {
		t.Fatalf("unavailable: %s", reason)
	}
	// An empty file is no kubeconfig: Create must fail naming the file it used.
	_, err := (&cluster.Existing{}).Create(context.Background(), "x")
	if err == nil || !strings.Contains(err.Error(), a) {
		t.Fatalf("error %v does not name %s", err, a)
	}
}
