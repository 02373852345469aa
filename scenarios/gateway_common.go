package scenarios

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/chaoslab/chaoslab/fakes/upstream"
	"github.com/chaoslab/chaoslab/lab"
	"github.com/chaoslab/chaoslab/load"
)

// Gateway scenarios are time-compressed: Kong's 60 s timeouts become
// hundreds of milliseconds, so a phase of a couple of seconds still judges
// dozens of requests per verdict.
const (
	gwRate = 40.0
	gwLoad = time.Second
)

// gwSetup is the usual gateway topology: one fake upstream behind a fault
// proxy, and the gateway with a kong.yml whose service points at the proxy.
type gwSetup struct {
	up *lab.Upstream
	gw *lab.Gateway
}

// startUpstream starts the named upstream or fails the scenario.
func (s *S) startUpstream(name string, cfg upstream.Config) *lab.Upstream {
	up, err := s.Lab.Upstream(s.Ctx, name, cfg)
	s.Must(err, "starting upstream "+name)
	return up
}

// startGateway starts the gateway and registers the commands a trainee uses
// on Kong: latency headers, the admin API, the config endpoint.
func (s *S) startGateway(kongYAML string, opts ...lab.GatewayOption) *lab.Gateway {
	g, err := s.Lab.Gateway(s.Ctx, kongYAML, opts...)
	if lab.IsRealKongNotBuilt(err) {
		s.Skip(lab.ErrRealKongNotBuilt.Error()) // "real Kong not built: run make kong"
	}
	s.Must(err, "starting the gateway")
	s.rec.Gateway = g.Kind()
	s.Command("Kong's latency attribution for one request", "curl -si "+g.ProxyURL()+"/orders | grep -i '^x-kong-.*latency'")
	s.Command("What the gateway runs (admin API)", "curl -s "+g.AdminURL()+"/services")
	return g
}

// reload applies a new kong.yml through POST /config (the fix phase).
func (s *S) reload(g *lab.Gateway, kongYAML string) {
	s.Must(g.Reload(s.Ctx, kongYAML), "reloading the gateway config")
	s.Note("gateway config reloaded")
}

// waitLive sends one request at a time until what the new configuration
// does shows (bounded at 10 s): real Kong applies POST /config through a
// worker event, a moment after its 201 (longer in a container on a busy
// machine), while the emulation applies it before answering.
func (s *S) waitLive(t load.Target, what string, live func(load.Result) bool) {
	s.Eventually(what+" (the new config is live)", 10*time.Second, 100*time.Millisecond, func() error {
		rs, err := load.Run(s.Ctx, []load.Target{t}, load.Constant(10), 100*time.Millisecond)
		if err != nil {
			return err
		}
		for _, r := range rs {
			if !live(r) {
				return fmt.Errorf("got %s %.100s", r.Outcome(), r.Body)
			}
		}
		if len(rs) == 0 {
			return fmt.Errorf("no answer")
		}
		return nil
	})
}

// attachLogs puts the gateway's error-log lines written since n into the
// report, and returns them for assertions.
func (s *S) gatewayErrors(g *lab.Gateway, since int) []string {
	lines := settled(func() []string { return g.ErrorLogSince(since) })
	s.Log("gateway error log", lines)
	return lines
}

// settled reads a log until it stops growing (bounded at 2 s): a gateway in
// a container delivers its log lines asynchronously, after the responses.
func settled(read func() []string) []string {
	lines := read()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		next := read()
		if len(next) == len(lines) {
			return next
		}
		lines = next
	}
	return lines
}

// target builds a request to the gateway.
func target(method, u string) load.Target { return load.Target{Method: method, URL: u} }

// gwAttack is the standard gateway load for a phase.
func (s *S) gwAttack(name string, targets ...load.Target) load.Results {
	return s.Attack(name, targets, load.Constant(gwRate), gwLoad, load.WithTimeout(5*time.Second))
}

// hostPort splits an upstream's proxy address for kong.yml.
func hostPort(addr string) (string, int) {
	h, p, _ := strings.Cut(addr, ":")
	n, _ := strconv.Atoi(p)
	return h, n
}

// httpURL is the upstream's address as a kong.yml service url.
func httpURL(scheme string, up *lab.Upstream) string {
	return (&url.URL{Scheme: scheme, Host: up.Addr()}).String()
}

// service renders one kong.yml service with a /orders route.
func service(name, url string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "- name: %s\n  url: %s\n", name, url)
	for _, e := range extra {
		fmt.Fprintf(&b, "  %s\n", e)
	}
	fmt.Fprintf(&b, "  routes:\n  - name: %s\n    paths: [/%s]\n", name, name)
	return b.String()
}

// kongYAML wraps services (and any other top-level sections) in a config.
func kongYAML(sections ...string) string {
	return "_format_version: \"3.0\"\n" + strings.Join(sections, "")
}

func services(svcs ...string) string { return "services:\n" + strings.Join(svcs, "") }
