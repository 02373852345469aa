package docker

import (
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"

	"github.com/chaoslab/chaoslab/lab"
	"github.com/chaoslab/chaoslab/lab/internal/realkong"
)

// The real-Kong container request, checked without a daemon: DB-less with
// the config mounted read-only where KONG_DECLARATIVE_CONFIG says, logs on
// the streams the Gateway reads, listeners on loopback in host mode.
func TestKongContainerRequestHostMode(t *testing.T) {
	d := &docker{run: "r1", kong: "kong:3.9", net: dockerNet{mode: netHost, addrs: newAddrMap()}}
	spec := d.kongSpec("/tmp/lab/kong.yml", lab.GatewayOptions{Hosts: map[string]string{"b.internal": "127.0.0.1", "a.internal": "127.0.0.1"}, DNS: "127.0.0.1:5353"}, 41000, 41001)
	req := d.request("chaoslab-r1-kong-1", spec, nil)
	want := map[string]string{
		"KONG_DATABASE":               "off",
		"KONG_DECLARATIVE_CONFIG":     "/kong/kong.yml",
		"KONG_PROXY_LISTEN":           "127.0.0.1:41000",
		"KONG_ADMIN_LISTEN":           "127.0.0.1:41001",
		"KONG_PROXY_ACCESS_LOG":       "/dev/stdout chaoslab",
		"KONG_NGINX_HTTP_LOG_FORMAT":  realkong.AccessLogFormat,
		"KONG_PROXY_ERROR_LOG":        "/dev/stderr",
		"KONG_DNS_RESOLVER":           "127.0.0.1:5353",
		"KONG_NGINX_WORKER_PROCESSES": "1",
	}
	for k, v := range want {
		if req.Env[k] != v {
			t.Errorf("env %s = %q, want %q", k, req.Env[k], v)
		}
	}
	if req.Image != "kong:3.9" {
		t.Errorf("image %q", req.Image)
	}
	if req.Labels[dockerLabelRun] != "r1" || req.Labels[dockerLabelPID] == "" || req.Labels[dockerLabelHost] == "" {
		t.Errorf("labels %v", req.Labels)
	}
	var hc container.HostConfig
	req.HostConfigModifier(&hc)
	if hc.NetworkMode != "host" || len(hc.PortBindings) != 0 || len(req.ExposedPorts) != 0 || len(req.Networks) != 0 {
		t.Errorf("host mode: network %q bindings %v exposed %v networks %v", hc.NetworkMode, hc.PortBindings, req.ExposedPorts, req.Networks)
	}
	if !slices.Equal(hc.Binds, []string{"/tmp/lab/kong.yml:/kong/kong.yml:ro"}) {
		t.Errorf("binds %v", hc.Binds)
	}
	if !slices.Equal(hc.ExtraHosts, []string{"a.internal:127.0.0.1", "b.internal:127.0.0.1"}) {
		t.Errorf("extra hosts %v", hc.ExtraHosts)
	}
}

// In bridge mode Kong listens on its default ports inside its network
// namespace, published on 127.0.0.1 only, and joins the run's network.
func TestKongContainerRequestBridgeMode(t *testing.T) {
	d := &docker{run: "r2", kong: "kong:3.9", net: dockerNet{mode: netBridge, addrs: newAddrMap()}}
	p, a, _ := d.kongPorts()
	req := d.request("chaoslab-r2-kong-1", d.kongSpec("/tmp/lab/kong.bridge.yml", lab.GatewayOptions{}, p, a), nil)
	if req.Env["KONG_PROXY_LISTEN"] != "0.0.0.0:8000" || req.Env["KONG_ADMIN_LISTEN"] != "0.0.0.0:8001" {
		t.Errorf("listen %q %q", req.Env["KONG_PROXY_LISTEN"], req.Env["KONG_ADMIN_LISTEN"])
	}
	var hc container.HostConfig
	req.HostConfigModifier(&hc)
	if hc.NetworkMode == "host" {
		t.Errorf("bridge mode must not use host networking")
	}
	for port, bs := range hc.PortBindings {
		for _, b := range bs {
			if b.HostIP != "127.0.0.1" {
				t.Errorf("port %s published on %q, want 127.0.0.1 only", port, b.HostIP)
			}
		}
	}
	if len(hc.PortBindings) != 2 || !slices.Equal(req.Networks, []string{"chaoslab-r2"}) ||
		!slices.Equal(req.NetworkAliases["chaoslab-r2"], []string{"kong-1"}) {
		t.Errorf("bindings %v networks %v aliases %v", hc.PortBindings, req.Networks, req.NetworkAliases)
	}
}

// A fake's container in bridge mode: listen addresses become fixed published
// ports, other containers' published addresses become their aliases, and
// what it prints maps back to the published loopback addresses.
func TestBridgeRewritesFakeArgsAndOutput(t *testing.T) {
	m := newAddrMap()
	m.add("127.0.0.1:32770", "imds-1:10000")
	args, ports := bridgeListenArgs([]string{"--listen", "127.0.0.1:0", "--admin-listen=127.0.0.1:0", "--imds", "http://127.0.0.1:32770/latest", "--other", "http://127.0.0.1:9/"}, m)
	want := []string{"--listen", "0.0.0.0:10000", "--admin-listen=0.0.0.0:10001", "--imds", "http://imds-1:10000/latest", "--other", "http://127.0.0.1:9/"}
	if !slices.Equal(args, want) || !slices.Equal(ports, []int{10000, 10001}) {
		t.Fatalf("args %q ports %v", args, ports)
	}
	r := outerReplacer(map[int]int{10000: 32801, 10001: 32802})
	if got := r.Replace("listening on http://[::]:10000"); got != "listening on http://127.0.0.1:32801" {
		t.Errorf("got %q", got)
	}
	if got := r.Replace("admin: http://0.0.0.0:10001"); got != "admin: http://127.0.0.1:32802" {
		t.Errorf("got %q", got)
	}
}

func TestRewriteKongConfigPointsAtAliases(t *testing.T) {
	m := newAddrMap()
	m.add("127.0.0.1:32780", "toxiproxy-2:20000")
	m.add("127.0.0.1:32781", "toxiproxy-2:20001")
	in := `_format_version: "3.0"
services:
- name: a
  url: http://127.0.0.1:32780/base
- name: b
  host: api.internal
  port: 32781
- name: c
  url: http://example.test:32780
upstreams:
- name: u
  targets:
  - target: localhost:32781
  - target: 127.0.0.1:1
`
	out, err := rewriteKongConfig([]byte(in), map[string]string{"api.internal": "127.0.0.1"}, m)
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, want := range []string{"url: http://toxiproxy-2:20000/base", "host: toxiproxy-2", "port: 20001", "url: http://example.test:32780", "target: toxiproxy-2:20001", "target: 127.0.0.1:1"} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %q in\n%s", want, s)
		}
	}
}

// The toxiproxy API translator's JSON rewrite touches listen and upstream
// only, wherever a proxy appears.
func TestRewriteProxyJSON(t *testing.T) {
	in := `{"proxies":[{"name":"a","listen":"127.0.0.1:0","upstream":"127.0.0.1:32770","enabled":true,"toxics":[]}]}`
	out, err := rewriteProxyJSON([]byte(in), func(l, u string) (string, string, error) { return "L(" + l + ")", "U(" + u + ")", nil })
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"listen":"L(127.0.0.1:0)"`, `"upstream":"U(127.0.0.1:32770)"`, `"name":"a"`, `"enabled":true`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("missing %s in %s", want, out)
		}
	}
}
