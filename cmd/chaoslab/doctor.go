package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

func init() {
	register("doctor", "check this machine for what the lab needs and say what to install", runDoctor)
}

// check is one doctor line. Required checks make doctor exit non-zero.
type check struct {
	name     string
	required bool
	run      func(ctx context.Context) (ok bool, detail string)
}

// doctorChecks is extended by other files (docker cleanup, k8s tools).
var doctorChecks = []check{
	{"go toolchain", false, func(ctx context.Context) (bool, string) {
		out, err := exec.CommandContext(ctx, "go", "version").Output()
		if err != nil {
			return false, "go not on PATH: needed for make scenario/test (install Go 1.26+ from go.dev)"
		}
		return true, strings.TrimSpace(string(out)) + " (this binary: " + runtime.Version() + ")"
	}},
	{"open files (ulimit -n)", true, func(context.Context) (bool, string) {
		var r syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
			return false, err.Error()
		}
		if r.Cur < 4096 {
			return false, fmt.Sprintf("%d: load tests at 1,000 rps need thousands of sockets; run `ulimit -n 65536`", r.Cur)
		}
		return true, fmt.Sprint(r.Cur)
	}},
	{"loopback ports", true, func(context.Context) (bool, string) {
		var lns []net.Listener
		defer func() {
			for _, l := range lns {
				_ = l.Close()
			}
		}()
		for i := 0; i < 20; i++ {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return false, "cannot listen on 127.0.0.1: " + err.Error()
			}
			lns = append(lns, l)
		}
		return true, "20 free ports on 127.0.0.1"
	}},
	{"docker daemon", false, func(ctx context.Context) (bool, string) {
		c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "unix", "/var/run/docker.sock")
			}}}
		resp, err := c.Get("http://docker/_ping")
		if err != nil {
			return false, "not reachable: BACKEND=docker needs it (apt-get install -y docker.io && dockerd &)"
		}
		resp.Body.Close()
		return resp.StatusCode == 200, "reachable at /var/run/docker.sock"
	}},
	tool("curl", "curl", "real-client TLS tests (apt-get install -y curl)"),
	tool("openssl", "openssl", "real-client TLS tests (apt-get install -y openssl)"),
	tool("redis-server", "redis-server", "gateway/rate-limit-across-nodes and the redis conformance test (apt-get install -y redis-server)"),
	tool("nginx", "nginx", "the gateway benchmark's nginx baseline (apt-get install -y nginx-light)"),
	tool("kubectl", "kubectl", "poking at a kwok or kind cluster by hand"),
}

func tool(name, bin, why string) check {
	return check{name, false, func(context.Context) (bool, string) {
		p, err := exec.LookPath(bin)
		if err != nil {
			return false, "missing: " + why
		}
		return true, p
	}}
}

func runDoctor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("doctor", stderr)
	cleanup := fs.Bool("cleanup", false, "also remove docker containers and networks left by dead chaoslab runs")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *cleanup {
		if err := cleanupDocker(ctx, false, stdout); err != nil {
			return err
		}
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	failed := 0
	for _, c := range doctorChecks {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		ok, detail := c.run(cctx)
		cancel()
		mark := "ok"
		switch {
		case !ok && c.required:
			mark, failed = "FAIL", failed+1
		case !ok:
			mark = "warn"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", mark, c.name, detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d required check(s) failed", failed)
	}
	return nil
}
