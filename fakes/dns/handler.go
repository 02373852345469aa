package dns

import (
	"net"
	"time"

	mdns "github.com/miekg/dns"
)

// ServeDNS answers one question authoritatively from the records: the
// addresses of the asked family, NOERROR with no answer (NODATA) when the
// name exists without that family, NXDOMAIN for any other name. The lab DNS
// is the only server its resolvers may ask, so it answers for everything and
// recurses for nothing.
func (s *Server) ServeDNS(w mdns.ResponseWriter, req *mdns.Msg) {
	proto := "udp"
	if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
		proto = "tcp"
	}
	m := new(mdns.Msg)
	if len(req.Question) != 1 {
		m.SetRcode(req, mdns.RcodeFormatError)
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	entry := s.arrive(q, proto)

	s.mu.RLock()
	latency := s.latency
	ips, known := s.records[fqdn(q.Name)]
	s.mu.RUnlock()
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-s.done:
			t.Stop()
			return // closing: the client times out, as with a dead server
		}
	}

	m.SetReply(req)
	m.Authoritative = true
	m.RecursionAvailable = false
	if !known {
		m.Rcode = mdns.RcodeNameError
	}
	for _, ip := range ips {
		hdr := mdns.RR_Header{Name: q.Name, Class: mdns.ClassINET, Ttl: answerTTL}
		switch {
		case q.Qtype == mdns.TypeA && ip.Is4():
			hdr.Rrtype = mdns.TypeA
			m.Answer = append(m.Answer, &mdns.A{Hdr: hdr, A: net.IP(ip.AsSlice())})
		case q.Qtype == mdns.TypeAAAA && ip.Is6():
			hdr.Rrtype = mdns.TypeAAAA
			m.Answer = append(m.Answer, &mdns.AAAA{Hdr: hdr, AAAA: net.IP(ip.AsSlice())})
		}
	}
	if proto == "udp" {
		m.Truncate(dnsSize(req))
	}
	// Logged before it is sent, so whoever got the answer finds it logged.
	s.mu.Lock()
	entry.Rcode = mdns.RcodeToString[m.Rcode]
	s.mu.Unlock()
	_ = w.WriteMsg(m)
}

// dnsSize is the UDP payload the client accepts (EDNS0 or the classic 512).
func dnsSize(req *mdns.Msg) int {
	if o := req.IsEdns0(); o != nil {
		return int(o.UDPSize())
	}
	return mdns.MinMsgSize
}

func (s *Server) arrive(q mdns.Question, proto string) *Query {
	s.total.Add(1)
	e := &Query{Time: time.Now(), Name: fqdn(q.Name), Type: mdns.TypeToString[q.Qtype], Proto: proto}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byName[e.Name]++
	s.log.Add(e)
	return e
}
