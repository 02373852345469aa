package realkong

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// install skips when Kong is not built (one line saying what to run).
func install(t *testing.T) Install {
	t.Helper()
	in, err := FindInstall()
	if errors.Is(err, ErrNotBuilt) {
		t.Skip(err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func writeConfig(t *testing.T, dir, yml string) string {
	t.Helper()
	p := filepath.Join(dir, "kong.yml")
	if err := os.WriteFile(p, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func orders(upstream string) string {
	return fmt.Sprintf("_format_version: \"3.0\"\nservices:\n- name: orders\n  url: %s\n  routes:\n  - name: orders\n    paths: [/orders]\n", upstream)
}

// gone reports whether no process of the group is left.
func gone(pgid int) bool { return syscall.Kill(-pgid, 0) != nil }

func TestStartProxyStop(t *testing.T) {
	in := install(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "from upstream "+r.URL.Path)
	}))
	defer up.Close()
	dir := t.TempDir()
	// The upstream by a name only the lab's hosts file knows.
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(up.URL, "http://"))
	k, err := Start(context.Background(), in, Options{Dir: dir, Config: writeConfig(t, dir, orders("http://orders.lab:"+port)),
		Hosts: map[string]string{"orders.lab": "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kong started in %v (proxy %s admin %s)", k.StartedIn, k.ProxyURL, k.AdminURL)
	pgid := k.Pid()
	resp, err := http.Get(k.ProxyURL + "/orders/1")
	if err != nil {
		k.Close()
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "from upstream /1" || resp.Header.Get("Via") != "1.1 kong/3.9.1" {
		t.Errorf("proxied: %d %q Via=%q, want 200 from the upstream (path stripped: strip_path defaults to true) via kong/3.9.1", resp.StatusCode, body, resp.Header.Get("Via"))
	}
	resp, err = http.Get(k.ProxyURL + "/nowhere")
	if err == nil {
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 404 || !strings.Contains(string(body), "no Route matched with those values") {
			t.Errorf("unrouted: %d %q", resp.StatusCode, body)
		}
	}
	// The access log has the lab's format, with upstream_status.
	var acc []string
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if acc = k.AccessLog(); len(acc) >= 2 {
			break
		}
	}
	if len(acc) < 2 || !strings.Contains(acc[0], `"GET /orders/1 HTTP/1.1" 200`) || !strings.Contains(acc[0], `upstream_status: "200"`) {
		t.Errorf("access log %q", acc)
	}
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	if !gone(pgid) {
		t.Fatalf("process group %d still alive after Close", pgid)
	}
	if _, err := os.Stat(filepath.Join(dir, "kong")); !os.IsNotExist(err) {
		t.Errorf("prefix left behind: %v", err)
	}
	if _, err := http.Get(k.ProxyURL + "/orders/1"); err == nil {
		t.Errorf("proxy still answers after Close")
	}
}

func TestBadConfigIsOneClearError(t *testing.T) {
	in := install(t)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "_format_version: \"3.0\"\nservices:\n- name: orders\n  url: http://127.0.0.1:1\n  retries: many\n")
	k, err := Start(context.Background(), in, Options{Dir: dir, Config: cfg})
	if err == nil {
		k.Close()
		t.Fatal("Kong started with an invalid kong.yml")
	}
	t.Log(err)
	if !strings.HasPrefix(err.Error(), "kong start: nginx exited during start") || !strings.Contains(err.Error(), "retries") {
		t.Errorf("error should name the step and quote the error log about the field: %v", err)
	}
	if _, serr := os.Stat(filepath.Join(dir, "kong")); !os.IsNotExist(serr) {
		t.Errorf("prefix left behind after a failed start")
	}
}

func TestPortInUse(t *testing.T) {
	in := install(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	cfg := writeConfig(t, dir, orders("http://127.0.0.1:1"))
	admin, _ := freePort()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	k, err := startOn(ctx, in, Options{Dir: dir, Config: cfg}, busy.Addr().(*net.TCPAddr).Port, admin)
	if err == nil {
		k.Close()
		t.Fatal("Kong started on a port in use")
	}
	t.Log(err)
	if !strings.Contains(err.Error(), "Address already in use") {
		t.Errorf("error should say the address is in use: %v", err)
	}
	// Start (with its own free ports) retries past such a failure.
	k, err = Start(ctx, in, Options{Dir: dir, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
}
