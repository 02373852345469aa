package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// The run's network namespace holds everything that is not loopback: the node
// IP, the CNI bridge and the pod IPs. It has no uplink (no veth to the host, no
// NAT), so nothing a pod, the kubelet or the apiserver sends can leave the
// machine. The host reaches into it only through Dial (a socket made inside
// the namespace) and Relay (a listener on the host's 127.0.0.1 whose
// connections are dialed inside the namespace).

// Node address plan: TEST-NET-2, never routed on the Internet and not the
// host's own network; the gateway address exists on no interface.
const (
	NodeIP     = "198.51.100.10"
	nodeCIDR   = NodeIP + "/24"
	nodeGW     = "198.51.100.1"
	PodSubnet  = "10.244.7.0/24"
	BridgeName = "clbr0"
)

// Dial opens a TCP connection from inside the network namespace at nsPath
// (e.g. /run/netns/NAME). The socket is created on an OS thread switched into
// the namespace, so it stays there for its whole life; the thread is switched
// back before it is released (a thread whose switch-back fails is never
// released: the goroutine exits locked and Go ends the thread).
func Dial(ctx context.Context, nsPath, network, addr string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		host, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, err}
			return
		}
		defer host.Close()
		target, err := os.Open(nsPath)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, fmt.Errorf("network namespace %s: %w", nsPath, err)}
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, fmt.Errorf("setns %s: %w", nsPath, err)}
			return
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		ch <- result{c, err}
		if unix.Setns(int(host.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		} // else: exit locked, the runtime kills the thread
	}()
	r := <-ch
	return r.c, r.err
}

// Relay listens on 127.0.0.1:0 of the host and forwards every connection to
// target (host:port as seen inside the namespace).
type Relay struct {
	ln     net.Listener
	nsPath string
	target string
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// NewRelay starts a relay to target inside nsPath.
func NewRelay(nsPath, target string) (*Relay, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("relay listener on 127.0.0.1: %w", err)
	}
	r := &Relay{ln: ln, nsPath: nsPath, target: target, conns: map[net.Conn]struct{}{}}
	r.wg.Add(1)
	go r.serve()
	return r, nil
}

// Addr is the relay's host address, 127.0.0.1:PORT.
func (r *Relay) Addr() string { return r.ln.Addr().String() }

func (r *Relay) serve() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		if !r.track(c) {
			_ = c.Close()
			return
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer r.untrack(c)
			up, err := Dial(context.Background(), r.nsPath, "tcp", r.target)
			if err != nil {
				return
			}
			if !r.track(up) {
				_ = up.Close()
				return
			}
			defer r.untrack(up)
			pipe(c, up)
		}()
	}
}

func (r *Relay) track(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.conns[c] = struct{}{}
	return true
}

func (r *Relay) untrack(c net.Conn) {
	r.mu.Lock()
	delete(r.conns, c)
	r.mu.Unlock()
	_ = c.Close()
}

// pipe copies both ways until either side ends, then closes both.
func pipe(a, b net.Conn) {
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go cp(a, b)
	go cp(b, a)
	<-done
	_ = a.Close()
	_ = b.Close()
	<-done
}

// Close stops accepting, closes every relayed connection and waits.
func (r *Relay) Close() error {
	r.mu.Lock()
	r.closed = true
	for c := range r.conns {
		_ = c.Close()
	}
	r.mu.Unlock()
	err := r.ln.Close()
	r.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
