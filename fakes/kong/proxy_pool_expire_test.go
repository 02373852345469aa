package kong

import (
	"net"
	"testing"
	"time"
)

// After a burst the pool shrinks back: connections idle for the keepalive
// timeout are closed when the pool is next used, even though get always
// takes the most recent one and never reaches them.
func TestPoolClosesConnectionsIdleTooLong(t *testing.T) {
	p := newConnPool(nil, time.Second)
	key := poolKey{"127.0.0.1:1", ""}
	mk := func(idle time.Duration) (*upConn, net.Conn) {
		a, b := net.Pipe()
		return &upConn{conn: a, addr: key.addr, idleSince: time.Now().Add(-idle)}, b
	}
	old1, peer1 := mk(2 * poolIdleTimeout)
	old2, peer2 := mk(poolIdleTimeout + time.Second)
	fresh, peerFresh := mk(time.Second)
	defer peer1.Close()
	defer peer2.Close()
	defer peerFresh.Close()
	p.idle[key] = []*upConn{old1, old2, fresh}
	back, peerBack := mk(0)
	defer peerBack.Close()
	p.put(back)
	if got := p.idle[key]; len(got) != 2 || got[0] != fresh || got[1] != back {
		t.Fatalf("pool after put: %d connections, want the fresh one and the returned one", len(got))
	}
	for i, peer := range []net.Conn{peer1, peer2} {
		_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := peer.Read(make([]byte, 1)); err == nil {
			t.Fatalf("expired connection %d still open", i+1)
		}
	}
	p.closeIdle()
}
