// Package listeners lists the TCP and UDP sockets processes listen on, from
// /proc, so a test can prove what a lab exposes: every listener on
// 127.0.0.1 or ::1, never on a wildcard or a routable address.
package listeners

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Socket is one listening socket.
type Socket struct {
	PID   int
	Proto string // tcp, tcp6, udp, udp6
	Addr  netip.AddrPort
	// NetNS is the network namespace the socket lives in (/proc/PID/ns/net,
	// e.g. "net:[4026531840]").
	NetNS string
}

// Reachable says whether other machines could connect to the socket: it is
// in the caller's own network namespace (the host's, for a test run there)
// and not on loopback. A socket in another namespace (a kubelet on the node
// IP of a run's namespace without uplink) is reachable from that namespace
// only.
func (s Socket) Reachable() bool { return !s.Loopback() && s.NetNS == SelfNetNS() }

// SelfNetNS is this process's network namespace.
func SelfNetNS() string { ns, _ := os.Readlink("/proc/self/ns/net"); return ns }

func (s Socket) String() string { return fmt.Sprintf("%s %s (pid %d)", s.Proto, s.Addr, s.PID) }

// Loopback says whether the socket accepts only local peers.
func (s Socket) Loopback() bool { return s.Addr.Addr().Unmap().IsLoopback() }

// Of returns the sockets the given processes listen on (TCP LISTEN, and
// bound UDP sockets with no peer). Processes that are gone are skipped.
func Of(pids ...int) ([]Socket, error) {
	var out []Socket
	for _, pid := range pids {
		inodes, err := socketInodes(pid)
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			return nil, err
		}
		if len(inodes) == 0 {
			continue
		}
		netns, _ := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "ns", "net"))
		for _, proto := range []string{"tcp", "tcp6", "udp", "udp6"} {
			// The table of the process's own network namespace.
			socks, err := table(filepath.Join("/proc", strconv.Itoa(pid), "net", proto), proto)
			if err != nil {
				return nil, err
			}
			for _, s := range socks {
				if inodes[s.inode] {
					out = append(out, Socket{PID: pid, Proto: proto, Addr: s.addr, NetNS: netns})
				}
			}
		}
	}
	return out, nil
}

// socketInodes are the inodes of the sockets among pid's open files.
func socketInodes(pid int) (map[string]bool, error) {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, e := range ents {
		link, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // closed since ReadDir
		}
		if ino, ok := strings.CutPrefix(link, "socket:["); ok {
			out[strings.TrimSuffix(ino, "]")] = true
		}
	}
	return out, nil
}

type entry struct {
	inode string
	addr  netip.AddrPort
}

// table parses /proc/<pid>/net/{tcp,tcp6,udp,udp6}: listening TCP sockets
// (state 0A) and UDP sockets bound without a peer (state 07, remote port 0).
func table(path, proto string) ([]entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []entry
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 {
			continue
		}
		local, remote, state, inode := fields[1], fields[2], fields[3], fields[9]
		listening := state == "0A" && strings.HasPrefix(proto, "tcp") ||
			state == "07" && strings.HasPrefix(proto, "udp") && strings.HasSuffix(remote, ":0000")
		if !listening {
			continue
		}
		addr, err := parseAddr(local)
		if err != nil {
			return nil, fmt.Errorf("%s: %q: %w", path, local, err)
		}
		out = append(out, entry{inode: inode, addr: addr})
	}
	return out, sc.Err()
}

// parseAddr decodes the kernel's "0100007F:1F90" (IPv4, host byte order in
// 32-bit words) or its 16-byte IPv6 form.
func parseAddr(s string) (netip.AddrPort, error) {
	h, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("no port")
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, err
	}
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != 4 && len(b) != 16 {
		return netip.AddrPort{}, fmt.Errorf("bad address %q", h)
	}
	// Each 32-bit word is in host (little-endian) order.
	for i := 0; i < len(b); i += 4 {
		b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
	}
	addr, _ := netip.AddrFromSlice(b)
	return netip.AddrPortFrom(addr, uint16(port)), nil
}

// Descendants are the processes whose parent chain leads to pid (children,
// grandchildren...), found by walking /proc: the host processes a lab
// started (real Kong's nginx master and worker, a control plane).
func Descendants(pid int) []int {
	parent := map[int]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
		f := strings.Fields(rest)
		if len(f) < 2 {
			continue
		}
		if pp, err := strconv.Atoi(f[1]); err == nil {
			parent[p] = pp
		}
	}
	var out []int
	for p := range parent {
		for q, hops := parent[p], 0; q != 0 && hops < 64; q, hops = parent[q], hops+1 {
			if q == pid {
				out = append(out, p)
				break
			}
		}
	}
	return out
}
