package realkong

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/chaoslab/chaoslab/fakes/kong"
)

// The emulation runs in a child process (this test binary re-executed), so
// it does not share the load generator's process, like real Kong and nginx.
const emulationChildEnv = "CHAOSLAB_REALKONG_BENCH_EMULATION"

func TestMain(m *testing.M) {
	if cfg := os.Getenv(emulationChildEnv); cfg != "" {
		g, err := kong.Start(context.Background(), kong.Options{Config: []byte(cfg)})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("ready %s\n", g.ProxyURL())
		io.Copy(io.Discard, os.Stdin) // until the parent closes stdin
		g.Close()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func startEmulationChild(b *testing.B, cfg string) string {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), emulationChildEnv+"="+cfg)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan struct{})
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- l
		io.Copy(io.Discard, stdout)
		cmd.Wait()
		close(exited)
	}()
	b.Cleanup(func() {
		stdin.Close()
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	select {
	case l := <-line:
		if u, ok := strings.CutPrefix(strings.TrimSpace(l), "ready "); ok {
			return u
		}
		b.Fatalf("emulation child: %q", l)
	case <-time.After(10 * time.Second):
		b.Fatal("emulation child did not start")
	}
	return ""
}

// startPlainNginx runs the same OpenResty nginx binary Kong runs, with a
// plain proxy_pass config (no Lua): what Kong adds over its own nginx.
func startPlainNginx(b *testing.B, in Install, upstream string) string {
	dir := b.TempDir()
	port, err := freePort()
	if err != nil {
		b.Fatal(err)
	}
	conf := fmt.Sprintf(`daemon off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
http {
  lua_package_path "%[4]s;;"; # ngx_lua loads resty.core at start, even unused
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  upstream up { server %[2]s; keepalive 60; }
  server {
    listen 127.0.0.1:%[3]d;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
`, dir, upstream, port, in.LuaPath())
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(in.Nginx(), "-p", dir, "-c", path, "-e", filepath.Join(dir, "error.log"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	b.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if resp, err := http.Get(url + "/"); err == nil {
			resp.Body.Close()
			return url
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			b.Fatalf("plain nginx did not start: %s", log)
		}
	}
}

func benchAttack(b *testing.B, url string, rate int, d time.Duration) vegeta.Metrics {
	atk := vegeta.NewAttacker(vegeta.KeepAlive(true), vegeta.Timeout(5*time.Second), vegeta.Connections(64))
	defer atk.Stop()
	tr := vegeta.NewStaticTargeter(vegeta.Target{Method: "GET", URL: url})
	var m vegeta.Metrics
	for res := range atk.Attack(tr, vegeta.Rate{Freq: rate, Per: time.Second}, d, "bench") {
		m.Add(res)
	}
	m.Close()
	if m.Success < 0.999 {
		b.Fatalf("%s at %d rps: success %.4f, errors %v", url, rate, m.Success, m.Errors)
	}
	return m
}

// BenchmarkRealKong: real Kong 3.9.1 vs the emulation vs plain nginx (the
// same OpenResty binary) on the same upstream, 1,000 rps for 3 s each,
// interleaved rounds in one run. Metrics: <target>_added_p50_ms and
// _added_p99_ms over going direct (medians over rounds).
func BenchmarkRealKong(b *testing.B) {
	in, err := FindInstall()
	if errors.Is(err, ErrNotBuilt) {
		b.Skip(err.Error())
	}
	if err != nil {
		b.Fatal(err)
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") }))
	b.Cleanup(up.Close)
	cfg := "_format_version: \"3.0\"\nservices:\n- name: bench\n  url: " + up.URL + "\n  routes:\n  - paths: [\"/\"]\n    strip_path: false\n"
	dir := b.TempDir()
	cfgPath := filepath.Join(dir, "kong.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		b.Fatal(err)
	}
	k, err := Start(context.Background(), in, Options{Dir: dir, Config: cfgPath})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { k.Close() })
	type target struct {
		name, url  string
		p50s, p99s []float64
	}
	targets := []*target{
		{name: "direct", url: up.URL},
		{name: "realkong", url: k.ProxyURL},
		{name: "emulation", url: startEmulationChild(b, cfg)},
		{name: "nginx", url: startPlainNginx(b, in, strings.TrimPrefix(up.URL, "http://"))},
	}
	for i := 0; i < b.N; i++ {
		for _, t := range targets {
			benchAttack(b, t.url+"/", 200, 500*time.Millisecond) // warm the pools
		}
		for r := 0; r < 3; r++ {
			for _, t := range targets {
				m := benchAttack(b, t.url+"/", 1000, 3*time.Second)
				t.p50s = append(t.p50s, float64(m.Latencies.P50)/1e6)
				t.p99s = append(t.p99s, float64(m.Latencies.P99)/1e6)
			}
		}
	}
	med := func(xs []float64) float64 {
		s := append([]float64(nil), xs...)
		sort.Float64s(s)
		return s[len(s)/2]
	}
	d50, d99 := med(targets[0].p50s), med(targets[0].p99s)
	for _, t := range targets {
		b.Logf("%-9s p50 ms %.3v  p99 ms %.3v", t.name, t.p50s, t.p99s)
		if t.name != "direct" {
			b.ReportMetric(med(t.p50s)-d50, t.name+"_added_p50_ms")
			b.ReportMetric(med(t.p99s)-d99, t.name+"_added_p99_ms")
		}
	}
}
