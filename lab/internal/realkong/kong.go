package realkong

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// AccessLogFormat is the proxy access log format the lab gives Kong: Kong's
// own kong_log_format plus nginx's $upstream_status (one status per try),
// which Kong's default format lacks and the scenarios read to tell an
// upstream's 500 from Kong's. Set with nginx_http_log_format, as Kong users
// do for a custom format.
const AccessLogFormat = `chaoslab '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent ` +
	`"$http_referer" "$http_user_agent" kong_request_id: "$kong_request_id" upstream_status: "$upstream_status"'`

// Options configure one Kong.
type Options struct {
	// Dir is a writable directory the lab owns; Kong's prefix, kong.conf and
	// the hosts file go under it.
	Dir string
	// Config is the absolute path of the declarative kong.yml.
	Config string
	// Hosts resolve names (service hosts, targets) without DNS: name -> IP.
	Hosts map[string]string
	// DNS is a host:port DNS server (dns_resolver); "" keeps every query on
	// 127.0.0.1:53 so nothing leaves the machine.
	DNS string
	// Headers is Kong's `headers` setting; "" keeps Kong's default.
	Headers string
	// TrustedIPs is the trusted_ips setting; "" keeps Kong's default (none).
	TrustedIPs string
	// StartTimeout bounds prepare + start + readiness (default 60 s).
	StartTimeout time.Duration
}

// Kong is a running Kong: nginx's master in its own process group.
type Kong struct {
	ProxyURL, AdminURL string
	// StartedIn is how long prepare + start + readiness took.
	StartedIn time.Duration

	prefix  string
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	stderr  *lineWriter

	errLog, accLog *tailer
	closeOnce      sync.Once
	closeErr       error
}

// Start prepares a prefix for the lab's Kong and runs its nginx in the
// foreground, waiting (bounded) until the admin API's /status answers. On
// any failure nothing is left running and the error names the step with the
// tail of Kong's error log.
func Start(ctx context.Context, in Install, o Options) (*Kong, error) {
	if o.StartTimeout == 0 {
		o.StartTimeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, o.StartTimeout)
	defer cancel()
	t0 := time.Now()
	var lastErr error
	for try := 0; try < 3; try++ { // a free port can be taken before nginx binds it
		k, err := start(ctx, in, o)
		if err == nil {
			k.StartedIn = time.Since(t0)
			return k, nil
		}
		lastErr = err
		if !strings.Contains(err.Error(), "Address already in use") {
			break
		}
	}
	return nil, lastErr
}

func start(ctx context.Context, in Install, o Options) (*Kong, error) {
	proxy, err := freePort()
	if err != nil {
		return nil, err
	}
	admin, err := freePort()
	if err != nil {
		return nil, err
	}
	return startOn(ctx, in, o, proxy, admin)
}

// startOn is start with given ports (tests use it to provoke a bind failure).
func startOn(ctx context.Context, in Install, o Options, proxy, admin int) (*Kong, error) {
	prefix, err := prefixDir(o.Dir)
	if err != nil {
		return nil, err
	}
	conf, err := writeConf(in, o, prefix, proxy, admin)
	if err != nil {
		return nil, err
	}
	// kong prepare renders nginx.conf from kong.conf; it is the only step
	// that needs the kong CLI (resty + LuaJIT), the rest is plain nginx.
	prep := exec.CommandContext(ctx, filepath.Join(in.Prefix, "bin/kong"), "prepare", "-c", conf, "-p", prefix)
	prep.Env = in.env("KONG_NGINX_HTTP_LOG_FORMAT=" + AccessLogFormat)
	prep.Dir = o.Dir
	if out, err := prep.CombinedOutput(); err != nil {
		_ = os.RemoveAll(prefix)
		return nil, fmt.Errorf("kong prepare: %v: %s", err, tail(string(out), 6))
	}
	k := &Kong{
		ProxyURL: "http://127.0.0.1:" + strconv.Itoa(proxy),
		AdminURL: "http://127.0.0.1:" + strconv.Itoa(admin),
		prefix:   prefix,
		exited:   make(chan struct{}),
		stderr:   &lineWriter{},
		errLog:   &tailer{path: filepath.Join(prefix, "logs/error.log")},
		accLog:   &tailer{path: filepath.Join(prefix, "logs/access.log")},
	}
	k.cmd = exec.Command(in.Nginx(), "-p", prefix, "-c", "nginx.conf")
	k.cmd.Env = in.env()
	k.cmd.Dir = prefix
	k.cmd.Stdout, k.cmd.Stderr = k.stderr, k.stderr
	// Its own process group: Ctrl-C in a terminal does not reach it (the
	// lab's closers stop it), and Close signals master and workers at once.
	// Pdeathsig stops the master should this process die without closing.
	k.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := k.cmd.Start(); err != nil {
		_ = os.RemoveAll(prefix)
		return nil, fmt.Errorf("kong start: %w", err)
	}
	go func() { k.waitErr = k.cmd.Wait(); close(k.exited) }()
	if err := k.waitReady(ctx); err != nil {
		logTail := k.errorTail(8)
		_ = k.Close()
		return nil, fmt.Errorf("kong start: %w: %s", err, logTail)
	}
	return k, nil
}

func writeConf(in Install, o Options, prefix string, proxy, admin int) (string, error) {
	plugins, err := in.Plugins()
	if err != nil {
		return "", fmt.Errorf("kong plugins list: %w", err)
	}
	hosts := filepath.Join(o.Dir, "kong-hosts")
	if err := os.WriteFile(hosts, []byte(hostsFile(o.Hosts)), 0o644); err != nil {
		return "", err
	}
	dns := o.DNS
	if dns == "" {
		dns = "127.0.0.1:53"
	}
	lines := []string{
		"prefix = " + prefix,
		"database = off",
		"declarative_config = " + o.Config,
		"proxy_listen = 127.0.0.1:" + strconv.Itoa(proxy),
		"admin_listen = 127.0.0.1:" + strconv.Itoa(admin),
		"status_listen = off",
		"admin_gui_listen = off",
		"anonymous_reports = off",
		"nginx_daemon = off",
		// One worker: the emulation's health-check and retry behaviour is a
		// single balancer's, and a 2-core machine has no core to spare.
		"nginx_worker_processes = 1",
		"openresty_path = " + filepath.Join(in.Prefix, "openresty"),
		"lua_package_path = " + in.LuaPath(),
		"lua_package_cpath = " + in.LuaCPath(),
		"plugins = " + plugins,
		"dns_hostsfile = " + hosts,
		"dns_resolver = " + dns,
		"proxy_access_log = logs/access.log chaoslab",
		"proxy_error_log = logs/error.log",
		"admin_access_log = off",
	}
	if os.Geteuid() == 0 {
		lines = append(lines, "nginx_user = root root") // Kong's default user kong does not exist here
	}
	if o.Headers != "" {
		lines = append(lines, "headers = "+o.Headers)
	}
	if o.TrustedIPs != "" {
		lines = append(lines, "trusted_ips = "+o.TrustedIPs)
	}
	p := filepath.Join(o.Dir, "kong.conf")
	return p, os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}

// hostsFile renders /etc/hosts syntax, sorted so runs are comparable.
func hostsFile(hosts map[string]string) string {
	names := make([]string, 0, len(hosts))
	for n := range hosts {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("127.0.0.1 localhost\n") // IPv4 only: the lab listens on 127.0.0.1
	for _, n := range names {
		fmt.Fprintf(&b, "%s %s\n", hosts[n], n)
	}
	return b.String()
}

// waitReady polls the admin API's /status until it answers 200, nginx exits,
// or ctx ends.
func (k *Kong) waitReady(ctx context.Context) error {
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-k.exited:
			return fmt.Errorf("nginx exited during start (%v)", k.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("admin API %s/status did not answer: %w", k.AdminURL, ctx.Err())
		case <-tick.C:
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, k.AdminURL+"/status", nil)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
}

// errorTail is the last n lines of the error log and nginx's own stderr,
// for start failures.
func (k *Kong) errorTail(n int) string {
	lines := append(k.stderr.Lines(), k.errLog.Lines()...)
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	if len(lines) == 0 {
		return "(error.log is empty)"
	}
	return strings.Join(lines, " | ")
}

// ErrorLog is Kong's error.log so far.
func (k *Kong) ErrorLog() []string { return k.errLog.Lines() }

// AccessLog is Kong's proxy access log so far (AccessLogFormat).
func (k *Kong) AccessLog() []string { return k.accLog.Lines() }

// Pid is nginx master's pid (its process group id too).
func (k *Kong) Pid() int { return k.cmd.Process.Pid }

// Close stops nginx: SIGTERM to the process group (fast shutdown), a bounded
// wait, then SIGKILL; it returns once master and workers are gone, and
// removes the prefix.
func (k *Kong) Close() error {
	k.closeOnce.Do(func() {
		pgid := k.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-k.exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-k.exited
		}
		// Workers may outlive the master by a moment (or be orphaned by a
		// killed master): wait for the group to be empty.
		deadline := time.Now().Add(5 * time.Second)
		for syscall.Kill(-pgid, 0) == nil {
			if time.Now().After(deadline) {
				_ = syscall.Kill(-pgid, syscall.SIGKILL)
				if time.Now().After(deadline.Add(2 * time.Second)) {
					k.closeErr = fmt.Errorf("kong: process group %d still has processes after SIGKILL", pgid)
					break
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err := os.RemoveAll(k.prefix); err != nil && k.closeErr == nil {
			k.closeErr = err
		}
	})
	return k.closeErr
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
