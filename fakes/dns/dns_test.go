package dns

import (
	"context"
	"errors"
	"flag"
	"io"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"go.uber.org/goleak"

	"github.com/chaoslab/chaoslab/fakes"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func start(t *testing.T, cfg Config) *Server {
	t.Helper()
	s, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func ask(t *testing.T, s *Server, proto, name string, qtype uint16) *mdns.Msg {
	t.Helper()
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(name), qtype)
	in, _, err := (&mdns.Client{Net: proto, Timeout: 2 * time.Second}).Exchange(m, s.Addr())
	if err != nil {
		t.Fatalf("%s %s over %s: %v", name, mdns.TypeToString[qtype], proto, err)
	}
	return in
}

var labRecords = map[string][]string{
	"api.lab.internal": {"127.0.0.10", "::1"},
	"db.lab.internal.": {"127.0.0.11"},
}

func TestAnswers(t *testing.T) {
	s := start(t, Config{Records: labRecords})
	for _, proto := range []string{"udp", "tcp"} {
		in := ask(t, s, proto, "API.lab.internal", mdns.TypeA)
		if in.Rcode != mdns.RcodeSuccess || !in.Authoritative || len(in.Answer) != 1 ||
			in.Answer[0].(*mdns.A).A.String() != "127.0.0.10" {
			t.Fatalf("%s A: %v", proto, in)
		}
		in = ask(t, s, proto, "api.lab.internal", mdns.TypeAAAA)
		if len(in.Answer) != 1 || in.Answer[0].(*mdns.AAAA).AAAA.String() != "::1" {
			t.Fatalf("%s AAAA: %v", proto, in)
		}
	}
	// A name without the asked family is NODATA, not NXDOMAIN.
	if in := ask(t, s, "udp", "db.lab.internal", mdns.TypeAAAA); in.Rcode != mdns.RcodeSuccess || len(in.Answer) != 0 {
		t.Fatalf("NODATA: %v", in)
	}
	for _, n := range []string{"nope.lab.internal", "api.example.com"} {
		if in := ask(t, s, "udp", n, mdns.TypeA); in.Rcode != mdns.RcodeNameError {
			t.Fatalf("%s: rcode %s, want NXDOMAIN", n, mdns.RcodeToString[in.Rcode])
		}
	}
	if s.Queries() != 7 || s.QueriesFor("api.lab.internal.") != 4 {
		t.Fatalf("counters: total %d, api %d", s.Queries(), s.QueriesFor("api.lab.internal"))
	}
	log := s.Log()
	last := log[len(log)-1]
	if len(log) != 7 || last.Name != "api.example.com." || last.Type != "A" || last.Rcode != "NXDOMAIN" ||
		last.Proto != "udp" || log[1].Proto != "udp" || log[2].Proto != "tcp" {
		t.Fatalf("log: %+v", log)
	}
	if err := s.SetRecord("new.lab.internal", "127.0.0.12"); err != nil {
		t.Fatal(err)
	}
	if in := ask(t, s, "udp", "new.lab.internal", mdns.TypeA); len(in.Answer) != 1 {
		t.Fatalf("record added at run time: %v", in)
	}
	_ = s.SetRecord("new.lab.internal")
	if in := ask(t, s, "udp", "new.lab.internal", mdns.TypeA); in.Rcode != mdns.RcodeNameError {
		t.Fatalf("record removed at run time: %v", in)
	}
}

func TestLatency(t *testing.T) {
	s := start(t, Config{Records: labRecords, Latency: 150 * time.Millisecond})
	t0 := time.Now()
	ask(t, s, "udp", "api.lab.internal", mdns.TypeA)
	if took := time.Since(t0); took < 150*time.Millisecond {
		t.Fatalf("answered after %s, before the 150ms latency", took)
	}
	_ = s.SetLatency(0)
	if err := s.SetLatency(-time.Second); err == nil {
		t.Fatal("negative latency accepted")
	}
}

func TestCloseDropsHeldQueries(t *testing.T) {
	s, err := Start(context.Background(), Config{Latency: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		m := new(mdns.Msg)
		m.SetQuestion("x.", mdns.TypeA)
		_, _, err := (&mdns.Client{Timeout: 300 * time.Millisecond}).Exchange(m, s.Addr())
		errc <- err
	}()
	for s.Queries() == 0 {
		time.Sleep(time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err == nil {
		t.Fatal("a held query was answered")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func resolver(s *Server, ndots int, search ...string) *Resolver {
	return &Resolver{Server: s.Addr(), Search: search, Ndots: ndots, Timeout: 2 * time.Second}
}

var podSearch = []string{"default.svc.cluster.local", "svc.cluster.local", "cluster.local"}

// The Kubernetes ndots:5 tax: an external name is tried with every search
// domain before itself, each try asking A and AAAA.
func TestResolverNdots5SearchFirst(t *testing.T) {
	s := start(t, Config{Records: map[string][]string{"api.example.com": {"127.0.0.20"}}})
	r := resolver(s, 5, podSearch...)
	addrs, err := r.LookupHost(context.Background(), "api.example.com")
	if err != nil || !reflect.DeepEqual(addrs, []string{"127.0.0.20"}) {
		t.Fatalf("got %v %v", addrs, err)
	}
	if r.Lookups() != 4 || r.Queries() != 8 || s.Queries() != 8 {
		t.Fatalf("lookups %d, queries %d (server saw %d); want 4 names, 8 queries", r.Lookups(), r.Queries(), s.Queries())
	}
	var order []string
	for _, q := range s.Log() {
		if q.Type == "A" {
			order = append(order, q.Name)
		}
	}
	want := []string{"api.example.com.default.svc.cluster.local.", "api.example.com.svc.cluster.local.",
		"api.example.com.cluster.local.", "api.example.com."}
	if !reflect.DeepEqual(order, want) {
		t.Fatalf("order %v, want search list first: %v", order, want)
	}
	for _, q := range s.Log()[:6] {
		if q.Rcode != "NXDOMAIN" {
			t.Fatalf("search candidate %+v: want NXDOMAIN", q)
		}
	}
}

func TestResolverFQDNAndNdots1(t *testing.T) {
	s := start(t, Config{Records: map[string][]string{"api.example.com": {"127.0.0.20"}}})
	fq := resolver(s, 5, podSearch...)
	if _, err := fq.LookupHost(context.Background(), "api.example.com."); err != nil || fq.Lookups() != 1 || fq.Queries() != 2 {
		t.Fatalf("trailing dot: err %v, lookups %d, queries %d; want 1 lookup (A+AAAA)", err, fq.Lookups(), fq.Queries())
	}
	v4 := resolver(s, 5, podSearch...)
	v4.IPv4Only = true
	if _, err := v4.LookupHost(context.Background(), "api.example.com."); err != nil || v4.Queries() != 1 {
		t.Fatalf("IPv4 only: err %v, queries %d; want 1", err, v4.Queries())
	}
	one := resolver(s, 1, podSearch...)
	if _, err := one.LookupHost(context.Background(), "api.example.com"); err != nil || one.Lookups() != 1 {
		t.Fatalf("ndots:1: err %v, lookups %d; want 1 (as is first)", err, one.Lookups())
	}
}

func TestResolverShortNameAndNotFound(t *testing.T) {
	s := start(t, Config{Records: map[string][]string{"db.svc.cluster.local": {"127.0.0.30"}}})
	r := resolver(s, 5, podSearch...)
	addrs, err := r.LookupHost(context.Background(), "db")
	if err != nil || addrs[0] != "127.0.0.30" || r.Lookups() != 2 {
		t.Fatalf("db: %v %v after %d lookups; want the second search domain", addrs, err, r.Lookups())
	}
	_, err = r.LookupHost(context.Background(), "nothing.example.com")
	var de *net.DNSError
	if !errors.As(err, &de) || !de.IsNotFound {
		t.Fatalf("unknown name: %v, want a not-found *net.DNSError", err)
	}
	if addrs, _ := r.LookupHost(context.Background(), "127.0.0.1"); addrs[0] != "127.0.0.1" {
		t.Fatalf("IP literal: %v", addrs)
	}
}

func TestResolverTimeoutAndLoopbackOnly(t *testing.T) {
	s := start(t, Config{Latency: 2 * time.Second})
	r := &Resolver{Server: s.Addr(), Timeout: 100 * time.Millisecond}
	_, err := r.LookupHost(context.Background(), "slow.example.com.")
	var de *net.DNSError
	if !errors.As(err, &de) || !de.IsTimeout {
		t.Fatalf("slow server: %v, want a timeout *net.DNSError", err)
	}
	for _, srv := range []string{"192.0.2.53:53", "localhost:53", "nonsense"} {
		r := &Resolver{Server: srv}
		if _, err := r.LookupHost(context.Background(), "x.example."); err == nil || r.Queries() != 0 {
			t.Fatalf("server %s: err %v, %d queries sent; must refuse before sending", srv, err, r.Queries())
		}
	}
}

func TestFlagsAndRegistration(t *testing.T) {
	in := Config{Listen: "127.0.0.1:0", Latency: 30 * time.Millisecond,
		Records: map[string][]string{"a.lab": {"127.0.0.1", "::1"}, "b.lab": {"127.0.0.2"}}}
	var out Config
	fs := flag.NewFlagSet("dns", flag.ContinueOnError)
	out.RegisterFlags(fs)
	if err := fs.Parse(in.Args()); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip:\n in %+v\nout %+v", in, out)
	}
	for _, args := range [][]string{{"--record", "x"}, {"--record", "x=notanip"}, {"--record", "bad name=1.2.3.4"}} {
		var c Config
		fs := flag.NewFlagSet("dns", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		c.RegisterFlags(fs)
		if err := fs.Parse(args); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
	if _, err := Start(context.Background(), Config{Latency: -3 * time.Millisecond}); err == nil ||
		!strings.Contains(err.Error(), "--latency: must not be negative, got -3ms") {
		t.Errorf("negative latency: %v", err)
	}
	def, ok := fakes.Lookup("dns")
	if !ok {
		t.Fatal("dns not registered")
	}
	fs = flag.NewFlagSet("dns", flag.ContinueOnError)
	startFn := def.Flags(fs)
	if err := fs.Parse([]string{"--record", "web.lab=127.0.0.5"}); err != nil {
		t.Fatal(err)
	}
	srv, err := startFn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	addrs, err := (&Resolver{Server: srv.(*Server).Addr()}).LookupHost(context.Background(), "web.lab.")
	if err != nil || addrs[0] != "127.0.0.5" || !strings.HasPrefix(srv.URL(), "dns://127.0.0.1:") {
		t.Fatalf("started from flags: %v %v %s", addrs, err, srv.URL())
	}
}
