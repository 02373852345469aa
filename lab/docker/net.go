package docker

import (
	"fmt"
	"net"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// dockerNetMode is how containers are networked (CHAOSLAB_DOCKER_NETWORK).
type dockerNetMode string

const (
	// netHost: every container shares the host's network namespace and binds
	// 127.0.0.1, so load and fault traffic stays on loopback. The lab
	// machines and CI use it.
	netHost dockerNetMode = "host"
	// netBridge: a user-defined network per run, containers reach each other
	// by alias, and ports are published on 127.0.0.1 only. What users run on
	// a laptop (Docker Desktop has no usable host networking).
	netBridge dockerNetMode = "bridge"
)

func dockerNetModeFromEnv() (dockerNetMode, error) {
	switch v := os.Getenv("CHAOSLAB_DOCKER_NETWORK"); v {
	case "", string(netHost):
		return netHost, nil
	case string(netBridge):
		return netBridge, nil
	default:
		return "", fmt.Errorf("CHAOSLAB_DOCKER_NETWORK: must be host or bridge, got %q", v)
	}
}

// dockerNet holds, in bridge mode, which published loopback address reaches
// which container port. The lab hands out host-side addresses
// (127.0.0.1:<published>) to scenarios; whatever goes into a container (fake
// arguments, toxiproxy upstreams, kong.yml) is rewritten to alias:port.
type dockerNet struct {
	mode   dockerNetMode
	addrs  *addrMap
	subnet string // the run network's subnet (bridge mode), e.g. 172.18.0.0/16
}

// firstInnerPort is where container-side listen ports start in bridge mode:
// the lab's "127.0.0.1:0" becomes 0.0.0.0:10000, 10001, ... in the container.
const firstInnerPort = 10000

type addrMap struct {
	mu      sync.Mutex
	toInner map[string]string // "127.0.0.1:H" -> "alias:I"
}

func newAddrMap() *addrMap { return &addrMap{toInner: map[string]string{}} }

func (m *addrMap) add(outer, inner string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.toInner[outer] = inner
}

func (m *addrMap) inner(outer string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	in, ok := m.toInner[normalizeLoopback(outer)]
	return in, ok
}

// outer maps an in-network alias:port back to its published address; other
// strings come back unchanged.
func (m *addrMap) outer(inner string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	for out, in := range m.toInner {
		if in == inner {
			return out
		}
	}
	return inner
}

// normalizeLoopback spells localhost:P as 127.0.0.1:P.
func normalizeLoopback(hostport string) string {
	h, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return hostport
	}
	if h == "localhost" {
		h = "127.0.0.1"
	}
	return net.JoinHostPort(h, p)
}

var loopbackAddr = regexp.MustCompile(`(?:127\.0\.0\.1|localhost):[0-9]{1,5}`)

// rewriteToInner replaces every published loopback address in s that belongs
// to a container of the run with its in-network alias:port. Other addresses
// are left alone.
func (m *addrMap) rewriteToInner(s string) string {
	return loopbackAddr.ReplaceAllStringFunc(s, func(a string) string {
		if in, ok := m.inner(a); ok {
			return in
		}
		return a
	})
}

// bridgeListenArgs turns each "127.0.0.1:0" listen value into
// "0.0.0.0:<fixed port>" (a published port must be known when the container
// is created) and rewrites addresses of other containers to their aliases.
// It returns the new arguments and the container ports to publish.
func bridgeListenArgs(args []string, m *addrMap) ([]string, []int) {
	out := make([]string, len(args))
	var ports []int
	next := firstInnerPort
	for i, a := range args {
		switch {
		case a == "127.0.0.1:0":
			a = "0.0.0.0:" + strconv.Itoa(next)
			ports = append(ports, next)
			next++
		case strings.HasPrefix(a, "-") && strings.HasSuffix(a, "=127.0.0.1:0"):
			a = strings.TrimSuffix(a, "127.0.0.1:0") + "0.0.0.0:" + strconv.Itoa(next)
			ports = append(ports, next)
			next++
		default:
			a = m.rewriteToInner(a)
		}
		out[i] = a
	}
	return out, ports
}

// outerReplacer maps what a container prints about its own listeners
// (0.0.0.0:10000, [::]:10000, 127.0.0.1:10000) to the published addresses.
func outerReplacer(published map[int]int) *strings.Replacer {
	inner := make([]int, 0, len(published))
	for p := range published {
		inner = append(inner, p)
	}
	sort.Ints(inner)
	var pairs []string
	for _, p := range inner {
		to := "127.0.0.1:" + strconv.Itoa(published[p])
		for _, h := range []string{"0.0.0.0", "[::]", "127.0.0.1", "localhost"} {
			pairs = append(pairs, h+":"+strconv.Itoa(p), to)
		}
	}
	return strings.NewReplacer(pairs...)
}

// trustedIPs is Kong's trusted_ips inside the network: on a bridge, peers
// the lab means as loopback (an LB beside Kong) connect from the run
// network's subnet, so a loopback entry brings the subnet with it.
func (n dockerNet) trustedIPs(list string) string {
	if n.mode != netBridge || n.subnet == "" || list == "" {
		return list
	}
	for _, e := range strings.Split(list, ",") {
		e = strings.TrimSpace(e)
		if e == "127.0.0.1" || e == "::1" || strings.HasPrefix(e, "127.") {
			return list + "," + n.subnet
		}
	}
	return list
}
