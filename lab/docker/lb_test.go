package docker

import (
	"testing"

	"github.com/chaoslab/chaoslab/fakes/lb"
	"github.com/chaoslab/chaoslab/fakes/upstream"
	"github.com/chaoslab/chaoslab/lab"
)

// On a bridge network the LB's backend is another container's alias: the
// hop is started with --allow-non-loopback there, and only there.
func TestLBAllowsNonLoopbackOnBridgeOnly(t *testing.T) {
	cfg := lb.Config{Backend: "http://127.0.0.1:8000"}
	host := &docker{net: dockerNet{mode: netHost, addrs: newAddrMap()}}
	if got := host.onNetwork(cfg).(lb.Config); got.AllowNonLoopback {
		t.Fatal("host network: the LB must stay loopback-only")
	}
	bridge := &docker{net: dockerNet{mode: netBridge, addrs: newAddrMap()}}
	if got := bridge.onNetwork(cfg).(lb.Config); !got.AllowNonLoopback {
		t.Fatal("bridge network: the LB must be allowed off loopback")
	}
	if _, ok := bridge.onNetwork(upstream.Config{}).(upstream.Config); !ok {
		t.Fatal("other fakes are passed through unchanged")
	}
}

func TestKongTrustedIPsEnv(t *testing.T) {
	d := &docker{run: "r1", kong: "kong:3.9", net: dockerNet{mode: netHost, addrs: newAddrMap()}}
	if env := d.request("k", d.kongSpec("/tmp/lab/kong.yml", lab.GatewayOptions{}, 1, 2), nil).Env; env["KONG_TRUSTED_IPS"] != "" {
		t.Fatalf("no trusted IPs asked: KONG_TRUSTED_IPS=%q", env["KONG_TRUSTED_IPS"])
	}
	env := d.request("k", d.kongSpec("/tmp/lab/kong.yml", lab.GatewayOptions{TrustedIPs: "127.0.0.1,::1"}, 1, 2), nil).Env
	if env["KONG_TRUSTED_IPS"] != "127.0.0.1,::1" {
		t.Fatalf("KONG_TRUSTED_IPS=%q", env["KONG_TRUSTED_IPS"])
	}
}

func TestTrustedIPsOnBridge(t *testing.T) {
	host := dockerNet{mode: netHost, subnet: "172.18.0.0/16"}
	bridge := dockerNet{mode: netBridge, subnet: "172.18.0.0/16"}
	for _, c := range []struct {
		n        dockerNet
		in, want string
	}{
		{host, "127.0.0.1,::1", "127.0.0.1,::1"},
		{bridge, "127.0.0.1,::1", "127.0.0.1,::1,172.18.0.0/16"},
		{bridge, "10.0.0.0/8", "10.0.0.0/8"},
		{bridge, "", ""},
	} {
		if got := c.n.trustedIPs(c.in); got != c.want {
			t.Errorf("%s %q: got %q, want %q", c.n.mode, c.in, got, c.want)
		}
	}
}
