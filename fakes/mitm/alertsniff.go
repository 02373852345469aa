package mitm

import (
	"fmt"
	"net"
	"sync"
)

// alertSniffer watches the TLS records a client sends during the handshake
// and remembers the last plaintext alert. OpenSSL clients (curl, s_client)
// that reject the proxy's certificate under TLS 1.3 send their alert
// before switching to encrypted records; crypto/tls then only reports
// "bad record MAC". The sniffed alert restores what the client said
// ("unknown certificate authority"), which is the point of the log.
type alertSniffer struct {
	net.Conn

	mu     sync.Mutex
	hdr    []byte // partial record header
	remain int    // payload bytes left in the current record
	length int    // payload length of the current record
	typ    byte
	body   []byte // first bytes of the current alert record
	alert  []byte // last complete plaintext alert (level, description)
}

const recordTypeAlert = 21

func (s *alertSniffer) Read(b []byte) (int, error) {
	n, err := s.Conn.Read(b)
	s.mu.Lock()
	s.scan(b[:n])
	s.mu.Unlock()
	return n, err
}

func (s *alertSniffer) scan(p []byte) {
	for len(p) > 0 {
		if s.remain == 0 {
			take := min(5-len(s.hdr), len(p))
			s.hdr = append(s.hdr, p[:take]...)
			p = p[take:]
			if len(s.hdr) == 5 {
				s.typ = s.hdr[0]
				s.remain = int(s.hdr[3])<<8 | int(s.hdr[4])
				s.length = s.remain
				s.hdr, s.body = s.hdr[:0], s.body[:0]
			}
			continue
		}
		take := min(s.remain, len(p))
		if s.typ == recordTypeAlert && len(s.body) < 2 {
			s.body = append(s.body, p[:min(take, 2-len(s.body))]...)
		}
		s.remain -= take
		p = p[take:]
		// A plaintext alert is exactly two bytes; encrypted ones are longer.
		if s.remain == 0 && s.typ == recordTypeAlert && s.length == 2 {
			s.alert = append(s.alert[:0], s.body...)
		}
	}
}

// sniffedAlert is the last plaintext alert as Go words remote alerts
// ("remote error: tls: unknown certificate authority"), or "".
func (s *alertSniffer) sniffedAlert() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.alert) != 2 {
		return ""
	}
	name, ok := alertNames[s.alert[1]]
	if !ok {
		name = fmt.Sprintf("alert(%d)", s.alert[1])
	}
	return "remote error: tls: " + name
}

// alertNames are RFC 8446 alert descriptions in crypto/tls's wording.
var alertNames = map[byte]string{
	0: "close notify", 10: "unexpected message", 20: "bad record MAC", 40: "handshake failure",
	42: "bad certificate", 43: "unsupported certificate", 44: "revoked certificate",
	45: "expired certificate", 46: "unknown certificate", 47: "illegal parameter",
	48: "unknown certificate authority", 49: "access denied", 50: "error decoding message",
	51: "error decrypting message", 70: "protocol version not supported", 80: "internal error",
	90: "user canceled", 112: "unrecognized name", 116: "certificate required",
}
