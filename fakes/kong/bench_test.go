package kong

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// BenchmarkGateway drives one load generator (vegeta, keep-alive, on
// loopback) against the same upstream three ways: directly, through the
// emulation and through nginx (when installed). The emulation runs as a
// child process like nginx does, so neither shares the load generator's
// scheduler. Rounds are interleaved and medians reported, because the
// machine is shared and noisy.
//
//	go test ./fakes/kong -run '^$' -bench BenchmarkGateway -benchtime 1x
//
// Metrics: <target>_max_rps (32 keep-alive workers, 2s), <target>_p50_ms
// and _p99_ms at a fixed 1,000 rps (3s), <proxy>_added_p50/p99_ms over
// direct, kong/nginx_rps, and <proxy>_cpu_us/req: the proxy process
// group's own CPU time per request from /proc, which is much steadier than
// throughput on a shared machine. nginx runs with access_log off, the
// strictest baseline.
//
// CHAOSLAB_BENCH_ROUNDS sets the number of rounds (default 3);
// CHAOSLAB_KONG_BENCH_CPUPROFILE profiles the gateway process;
// CHAOSLAB_KONG_BENCH_GOMAXPROCS sets GOMAXPROCS for it.

const (
	benchRate     = 1000
	benchChildEnv = "CHAOSLAB_KONG_BENCH_CHILD"
	benchCfgEnv   = "CHAOSLAB_KONG_BENCH_CONFIG"
)

// runBenchChild is TestMain's other life: a gateway on the config in the
// environment, until stdin closes.
func runBenchChild() int {
	g, err := Start(context.Background(), Options{Config: []byte(os.Getenv(benchCfgEnv))})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// CHAOSLAB_KONG_BENCH_CPUPROFILE profiles the gateway process alone.
	if path := os.Getenv("CHAOSLAB_KONG_BENCH_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			pprof.StartCPUProfile(f)
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
	}
	fmt.Printf("ready %s\n", g.ProxyURL())
	io.Copy(io.Discard, os.Stdin)
	g.Close()
	return 0
}

func benchConfig(upstreamURL string) string {
	return `_format_version: "3.0"
services:
- name: bench
  url: ` + upstreamURL + `
  routes:
  - paths: ["/"]
`
}

// startChildGateway re-executes the test binary as a gateway process.
func startChildGateway(b *testing.B, upstreamURL string) (string, int) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), benchChildEnv+"=1", benchCfgEnv+"="+benchConfig(upstreamURL))
	if n := os.Getenv("CHAOSLAB_KONG_BENCH_GOMAXPROCS"); n != "" {
		cmd.Env = append(cmd.Env, "GOMAXPROCS="+n) // the gateway process only
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan struct{})
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- line
		io.Copy(io.Discard, stdout)
		cmd.Wait()
		close(exited)
	}()
	b.Cleanup(func() {
		stdin.Close() // the child closes its gateway and exits
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	select {
	case line := <-ready:
		url, ok := strings.CutPrefix(strings.TrimSpace(line), "ready ")
		if !ok {
			b.Fatalf("child gateway: %q", line)
		}
		return url, cmd.Process.Pid
	case <-time.After(10 * time.Second):
		b.Fatal("child gateway did not start")
	}
	return "", 0
}

// benchUpstream is a fast upstream: 200 with a small body.
func benchUpstream(b *testing.B) *httptest.Server {
	body := []byte(`{"ok":true,"service":"bench"}`)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	b.Cleanup(s.Close)
	return s
}

// startNginx runs nginx in the foreground as a child process proxying to
// upstream with a keep-alive pool (as Kong's nginx does), or skips.
func startNginx(b *testing.B, upstream string) (string, int) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		b.Skip("install nginx (apt-get install nginx-light) to compare")
	}
	dir := b.TempDir()
	port := freePort(b)
	conf := fmt.Sprintf(`daemon off;
worker_processes auto;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  upstream up { server %[2]s; keepalive 512; }
  server {
    listen %[3]s;
    location / {
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }
}
`, dir, upstream, port)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", path, "-e", filepath.Join(dir, "error.log"))
	// No Stdout/Stderr: a pipe would be inherited by the workers and keep
	// Wait from returning. Its own process group, so cleanup reaches the
	// workers too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		b.Skipf("nginx would not start: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	b.Cleanup(func() {
		// SIGTERM is nginx's fast shutdown: the master stops its workers.
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", port, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return "http://" + port, cmd.Process.Pid
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			b.Fatalf("nginx exited: %s", log)
		default:
		}
		if time.Now().After(deadline) {
			b.Fatal("nginx did not start listening")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func freePort(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// attack runs vegeta against url; rate 0 means as fast as 32 workers go.
func attack(b *testing.B, url string, rate int, d time.Duration) vegeta.Metrics {
	opts := []func(*vegeta.Attacker){vegeta.KeepAlive(true), vegeta.Timeout(5 * time.Second), vegeta.Connections(64)}
	if rate == 0 {
		opts = append(opts, vegeta.Workers(32), vegeta.MaxWorkers(32))
	}
	atk := vegeta.NewAttacker(opts...)
	defer atk.Stop()
	tr := vegeta.NewStaticTargeter(vegeta.Target{Method: "GET", URL: url})
	var m vegeta.Metrics
	for res := range atk.Attack(tr, vegeta.Rate{Freq: rate, Per: time.Second}, d, "bench") {
		m.Add(res)
	}
	m.Close()
	if m.Success < 0.999 {
		b.Fatalf("%s at rate %d: success %.4f, errors %v", url, rate, m.Success, m.Errors)
	}
	return m
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func BenchmarkGateway(b *testing.B) {
	rounds := 3
	if n, err := strconv.Atoi(os.Getenv("CHAOSLAB_BENCH_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	up := benchUpstream(b)
	type target struct {
		name, url          string
		pgid               int // the proxy's process group, for its CPU time
		maxRPS, p50s, p99s []float64
		cpuPerReq          []float64 // microseconds of proxy CPU per request
	}
	kongURL, kongPG := startChildGateway(b, up.URL)
	targets := []*target{{name: "direct", url: up.URL}, {name: "kong", url: kongURL, pgid: kongPG}}
	if _, err := exec.LookPath("nginx"); err == nil {
		nginxURL, nginxPG := startNginx(b, up.Listener.Addr().String())
		targets = append(targets, &target{name: "nginx", url: nginxURL, pgid: nginxPG})
	} else {
		b.Log("nginx: install nginx (apt-get install nginx-light) to compare")
	}
	b.Logf("machine: %d CPUs, GOMAXPROCS %d, load average before: %s", runtime.NumCPU(), runtime.GOMAXPROCS(0), loadavg())
	for i := 0; i < b.N; i++ {
		for _, t := range targets {
			attack(b, t.url+"/", 0, 300*time.Millisecond) // warm the pools
		}
		for r := 0; r < rounds; r++ {
			for _, t := range targets {
				before := groupCPU(t.pgid)
				m := attack(b, t.url+"/", 0, 2*time.Second)
				t.maxRPS = append(t.maxRPS, m.Throughput)
				if t.pgid != 0 {
					t.cpuPerReq = append(t.cpuPerReq, float64((groupCPU(t.pgid)-before).Microseconds())/float64(m.Requests))
				}
			}
			for _, t := range targets {
				m := attack(b, t.url+"/", benchRate, 3*time.Second)
				t.p50s = append(t.p50s, millis(m.Latencies.P50))
				t.p99s = append(t.p99s, millis(m.Latencies.P99))
			}
		}
	}
	b.Logf("load average after: %s", loadavg())
	med := map[string][3]float64{}
	for _, t := range targets {
		med[t.name] = [3]float64{median(t.maxRPS), median(t.p50s), median(t.p99s)}
		b.Logf("%-6s max rps %v  p50 ms %v  p99 ms %v  proxy CPU us/req %v", t.name, round(t.maxRPS), round(t.p50s), round(t.p99s), round(t.cpuPerReq))
		if len(t.cpuPerReq) > 0 {
			b.ReportMetric(median(t.cpuPerReq), t.name+"_cpu_us/req")
		}
		b.ReportMetric(med[t.name][0], t.name+"_max_rps")
		b.ReportMetric(med[t.name][1], t.name+"_p50_ms")
		b.ReportMetric(med[t.name][2], t.name+"_p99_ms")
		if t.name != "direct" {
			b.ReportMetric(med[t.name][1]-med["direct"][1], t.name+"_added_p50_ms")
			b.ReportMetric(med[t.name][2]-med["direct"][2], t.name+"_added_p99_ms")
		}
	}
	b.ReportMetric(med["kong"][0]/med["direct"][0], "kong/direct_rps")
	if n, ok := med["nginx"]; ok {
		b.ReportMetric(med["kong"][0]/n[0], "kong/nginx_rps")
		var kc, nc []float64
		for _, t := range targets {
			switch t.name {
			case "kong":
				kc = t.cpuPerReq
			case "nginx":
				nc = t.cpuPerReq
			}
		}
		b.ReportMetric(median(kc)/median(nc), "kong/nginx_cpu_per_req")
	}
}

// groupCPU is the user+system CPU time of every process in a process
// group (nginx's master and workers; the gateway child), from /proc.
func groupCPU(pgid int) time.Duration {
	if pgid == 0 {
		return 0
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	var ticks int64
	for _, d := range dirs {
		raw, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		s := string(raw)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
		if len(f) < 13 {
			continue
		}
		if pg, _ := strconv.Atoi(f[2]); pg != pgid {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += ut + st
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ is 100 on Linux
}

func round(xs []float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = float64(int(x*1000)) / 1000
	}
	return out
}

// BenchmarkProxyPath is the emulation's in-process cost per proxied
// request (ns/op, allocs/op) with parallel keep-alive clients.
func BenchmarkProxyPath(b *testing.B) {
	up := benchUpstream(b)
	g, err := Start(context.Background(), Options{Config: []byte(benchConfig(up.URL))})
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	url := g.ProxyURL() + "/"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer client.CloseIdleConnections()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
