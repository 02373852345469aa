package listeners

import (
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"testing"
)

func TestOfFindsThisProcessListeners(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	wild, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer wild.Close()

	socks, err := Of(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]Socket{}
	for _, s := range socks {
		found[s.Addr.String()] = s
	}
	for _, want := range []string{tcp.Addr().String(), udp.LocalAddr().String()} {
		s, ok := found[want]
		if !ok || !s.Loopback() {
			t.Errorf("want loopback listener %s, got %v", want, socks)
		}
	}
	port := wild.Addr().(*net.TCPAddr).Port
	var wildSeen bool
	for _, s := range socks {
		if int(s.Addr.Port()) == port {
			wildSeen = true
			if s.Loopback() {
				t.Errorf("%s is a wildcard listener, reported as loopback", s)
			}
		}
	}
	if !wildSeen {
		t.Errorf("wildcard listener :%d not found in %v", port, socks)
	}
}

func TestParseAddr(t *testing.T) {
	for in, want := range map[string]string{
		"0100007F:1F90":                         "127.0.0.1:8080",
		"00000000:0050":                         "0.0.0.0:80",
		"00000000000000000000000001000000:0016": "[::1]:22",
	} {
		got, err := parseAddr(in)
		if err != nil || got.String() != want {
			t.Errorf("parseAddr(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
}

func TestDescendantsFindsAChild(t *testing.T) {
	cmd := exec.Command("sleep", "5")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep binary")
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if !slices.Contains(Descendants(os.Getpid()), cmd.Process.Pid) {
		t.Fatalf("child %d not among %v", cmd.Process.Pid, Descendants(os.Getpid()))
	}
}

func TestReachableOnlyInOwnNetNS(t *testing.T) {
	own := SelfNetNS()
	if own == "" {
		t.Skip("no /proc/self/ns/net here")
	}
	wild := Socket{Addr: netip.MustParseAddrPort("0.0.0.0:80"), NetNS: own}
	inner := Socket{Addr: netip.MustParseAddrPort("198.51.100.10:10250"), NetNS: "net:[1]"}
	local := Socket{Addr: netip.MustParseAddrPort("127.0.0.1:80"), NetNS: own}
	if !wild.Reachable() || inner.Reachable() || local.Reachable() {
		t.Fatalf("reachable: wildcard %v (want true), other netns %v, loopback %v (want false)", wild.Reachable(), inner.Reachable(), local.Reachable())
	}
}
