package dns

import (
	"context"
	"net"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// FuzzPacket sends arbitrary bytes to a running lab DNS server over UDP, the
// way a broken or hostile resolver would. Properties: the server never
// panics or stops answering (a well-formed query right after is answered
// correctly), and whatever it sends back to the junk is a parseable DNS
// message no larger than a classic UDP answer can be asked to carry.
func FuzzPacket(f *testing.F) {
	for _, seed := range seedQueries() {
		f.Add(seed)
	}
	srv, err := Start(context.Background(), Config{Records: map[string][]string{"api.lab.internal": {"127.0.0.1", "::1"}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = srv.Close() })
	conn, err := net.Dial("udp", srv.Addr())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = conn.Close() })
	buf := make([]byte, 65535)

	f.Fuzz(func(t *testing.T, packet []byte) {
		if len(packet) == 0 || len(packet) > 4096 {
			return // nothing to send / beyond what a resolver sends over UDP
		}
		if _, err := conn.Write(packet); err != nil {
			t.Fatal(err)
		}
		// An answer, if any, comes at once; junk may get none (miekg/dns
		// drops what it cannot parse).
		_ = conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if n, err := conn.Read(buf); err == nil {
			var m mdns.Msg
			if err := m.Unpack(buf[:n]); err != nil {
				t.Fatalf("answer to %x does not parse: %v", packet, err)
			}
		}
		// Still alive and still right.
		q := new(mdns.Msg)
		q.SetQuestion("api.lab.internal.", mdns.TypeA)
		c := &mdns.Client{Net: "udp", Timeout: 2 * time.Second}
		r, _, err := c.Exchange(q, srv.Addr())
		if err != nil {
			t.Fatalf("after %x the server stopped answering: %v", packet, err)
		}
		if len(r.Answer) != 1 || r.Answer[0].(*mdns.A).A.String() != "127.0.0.1" {
			t.Fatalf("after %x the server answered %v", packet, r.Answer)
		}
	})
}

func seedQueries() [][]byte {
	var out [][]byte
	for _, q := range []struct {
		name  string
		qtype uint16
		edns  bool
	}{{"api.lab.internal.", mdns.TypeA, false}, {"api.lab.internal.", mdns.TypeAAAA, true},
		{"nope.", mdns.TypeA, false}, {".", mdns.TypeANY, true}} {
		m := new(mdns.Msg)
		m.SetQuestion(q.name, q.qtype)
		if q.edns {
			m.SetEdns0(4096, false)
		}
		b, _ := m.Pack()
		out = append(out, b)
	}
	two := new(mdns.Msg)
	two.Question = []mdns.Question{{Name: "a.", Qtype: mdns.TypeA, Qclass: mdns.ClassINET}, {Name: "b.", Qtype: mdns.TypeA, Qclass: mdns.ClassINET}}
	b, _ := two.Pack()
	return append(out, b, []byte{0, 0}, []byte("\x12\x34\x81\x80"))
}
