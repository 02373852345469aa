package main

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chaoslab/chaoslab/fakes"
)

var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "chaoslab-cli-")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "chaoslab")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		panic(string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// startFake runs `chaoslab fake ...` and returns the URL from its first line.
func startFake(t *testing.T, args ...string) (*exec.Cmd, string, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"fake"}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(out)
	if !sc.Scan() {
		t.Fatal("no first line")
	}
	url, ok := strings.CutPrefix(sc.Text(), "listening on ")
	if !ok {
		t.Fatalf("first line %q", sc.Text())
	}
	return cmd, url, sc
}

func TestFakeUpstreamLatencyAndCleanExit(t *testing.T) {
	cmd, url, _ := startFake(t, "upstream", "--listen", "127.0.0.1:0", "--latency", "300ms")
	t0 := time.Now()
	resp, err := http.Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	took := time.Since(t0)
	if resp.StatusCode != 200 || took < 300*time.Millisecond || took > 3*time.Second {
		t.Fatalf("status %d after %s, want 200 after ~300ms", resp.StatusCode, took)
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGINT: %v (want 0)", err)
	}
	if c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://")); err == nil {
		c.Close()
		t.Fatal("still listening after exit")
	}
}

func TestFakeUpstreamTLSPrintsCA(t *testing.T) {
	cmd, url, sc := startFake(t, "upstream", "--tls", "--chain", "leaf-only")
	if !strings.HasPrefix(url, "https://127.0.0.1:") || !sc.Scan() {
		t.Fatalf("url %s, no second line", url)
	}
	ready, ok, err := fakes.ParseReady([]string{sc.Text()})
	if !ok || err != nil || ready.URL != url || ready.Info["ca"] == "" {
		t.Fatalf("url %s, second line %q: %v", url, sc.Text(), err)
	}
	ca := ready.Info["ca"]
	if _, err := os.Stat(ca); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(ca); !os.IsNotExist(err) {
		t.Fatalf("CA file %s outlived the fake", ca)
	}
}

func runCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestBadInput(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"fake", "upstream", "--latency", "-3ms"}, "latency: must not be negative, got -3ms"},
		{[]string{"fake", "upstream", "--listen", ln.Addr().String()}, "address already in use"},
		{[]string{"fake", "nope"}, `unknown fake "nope": valid fakes are`},
		{[]string{"frobnicate"}, `unknown command "frobnicate": valid commands are`},
		{[]string{"report"}, "--from: required"},
		{[]string{"lab", "up", "faults/nope"}, `unknown scenario "faults/nope": valid scenarios are`},
	}
	for _, c := range cases {
		code, _, stderr := runCLI(c.args...)
		if code == 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", c.args, code, stderr, c.want)
		}
		if n := strings.Count(strings.TrimSpace(stderr), "\n"); n > 0 && !strings.Contains(stderr, "Usage") {
			t.Errorf("%v: error is not one line: %q", c.args, stderr)
		}
	}
}

func TestListAndReport(t *testing.T) {
	code, out, _ := runCLI("list")
	if code != 0 || !strings.Contains(out, "faults/latency-injection") || !strings.Contains(out, "faults/upstream-reset") {
		t.Fatalf("list: %d %s", code, out)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "results.json")
	if err := os.WriteFile(src, []byte(`{"schema_version":1,"tool":"chaoslab","backend":"embedded","scenarios":[{"id":"a/b","verdict":"passed","phases":[]}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI("report", "--from", src, "--out", filepath.Join(dir, "index.html"))
	if code != 0 || !strings.Contains(out, "1 passed, 0 failed") {
		t.Fatalf("report: %d %s %s", code, out, errs)
	}
}

func TestGatewayStandalone(t *testing.T) {
	dir := t.TempDir()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := closed.Addr().String()
	closed.Close()
	cfg := filepath.Join(dir, "kong.yml")
	os.WriteFile(cfg, []byte("_format_version: \"3.0\"\nservices:\n- name: orders\n  url: http://"+dead+"\n  retries: 0\n  routes:\n  - name: orders\n    paths: [/orders]\n"), 0o644)
	cmd := exec.Command(bin, "gateway", "--config", cfg, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0")
	out, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	sc := bufio.NewScanner(out)
	sc.Scan()
	proxy, ok := strings.CutPrefix(sc.Text(), "listening on ")
	sc.Scan()
	ready, ok2, _ := fakes.ParseReady([]string{sc.Text()})
	admin := ready.Info["admin"]
	if !ok || !ok2 || admin == "" {
		t.Fatalf("first lines: %q", sc.Text())
	}
	resp, err := http.Get(proxy + "/orders")
	if err != nil {
		t.Fatal(err)
	}
	body := new(bytes.Buffer)
	body.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 502 || !strings.HasPrefix(body.String(), "An invalid response was received from the upstream server\nrequest_id: ") {
		t.Fatalf("refused upstream: %d %q", resp.StatusCode, body)
	}
	if resp.Header.Get("X-Kong-Upstream-Latency") == "" || resp.Header.Get("X-Kong-Request-Id") == "" {
		t.Fatalf("Kong headers missing: %v", resp.Header)
	}
	resp, err = http.Get(proxy + "/nowhere")
	if err != nil {
		t.Fatal(err)
	}
	body.Reset()
	body.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || !strings.Contains(body.String(), "no Route matched with those values") {
		t.Fatalf("no route: %d %q", resp.StatusCode, body)
	}
	resp, err = http.Get(admin + "/status")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("admin /status: %v %v", resp, err)
	}
	resp.Body.Close()
	_ = cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v", err)
	}
	if !strings.Contains(stderr.String(), "connect() failed (111: Connection refused) while connecting to upstream") {
		t.Fatalf("error log on stderr: %q", stderr.String())
	}
}

func TestGatewayBadConfig(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "kong.yml")
	os.WriteFile(cfg, []byte("_format_version: \"3.0\"\nservices:\n- name: orders\n  url: http://127.0.0.1:1\n  read_timeout: soon\n"), 0o644)
	code, _, stderr := runCLI("gateway", "--config", cfg)
	if code == 0 || !strings.Contains(stderr, "read_timeout") || !strings.Contains(stderr, "kong.yml") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}
