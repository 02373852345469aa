package kong

import (
	"context"
	"flag"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/chaoslab/chaoslab/fakes"
	"github.com/miekg/dns"
)

func TestArgsRoundTrip(t *testing.T) {
	in := CLIConfig{ConfigPath: "/tmp/kong.yml", Listen: "127.0.0.1:8000", AdminListen: "127.0.0.1:8001",
		Hosts: map[string][]string{"api.internal": {"127.0.0.1"}, "b.internal": {"127.0.0.2", "127.0.0.3"}}, DNS: "127.0.0.1:5353", AllowNonLoopback: true}
	var out CLIConfig
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	out.RegisterFlags(fs)
	if err := fs.Parse(in.Args()); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Errorf("round trip\n in %+v\nout %+v", in, out)
	}
	var def CLIConfig
	fs = flag.NewFlagSet("gateway", flag.ContinueOnError)
	def.RegisterFlags(fs)
	fs.Parse([]string{"--config", "x.yml"})
	if got := def.Args(); !reflect.DeepEqual(got, []string{"--config", "x.yml", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"}) {
		t.Errorf("defaults render as %v", got)
	}
}

func startDef(t *testing.T, args ...string) (fakes.Server, error) {
	d, ok := fakes.Lookup("gateway")
	if !ok {
		t.Fatal("gateway not registered")
	}
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	start := d.Flags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return start(context.Background())
}

func TestDefStarter(t *testing.T) {
	if _, err := startDef(t); err == nil || err.Error() != "--config: required (path to kong.yml)" {
		t.Errorf("no --config: %v", err)
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yml")
	os.WriteFile(bad, []byte("_format_version: \"3.0\"\nservices:\n- name: a\n  host: 127.0.0.1\n  read_timeout: x\n  port: y\n"), 0o600)
	_, err := startDef(t, "--config", bad)
	want := "--config " + bad + ": invalid declarative configuration:\n  services[0].read_timeout: expected an integer (line 5)\n  services[0].port: expected an integer (line 6)"
	if err == nil || err.Error() != want {
		t.Errorf("invalid config:\n%v\nwant\n%s", err, want)
	}
	if _, err := startDef(t, "--config", bad, "--dns", "8.8.8.8:53"); err == nil || !strings.Contains(err.Error(), "--dns") || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("non-loopback dns: %v", err)
	}

	up := echoUpstream(t)
	_, port := hostPort(t, up.URL)
	good := filepath.Join(dir, "kong.yml")
	os.WriteFile(good, []byte(serviceConfig("http://api.internal:"+port, "")), 0o600)
	srv, err := startDef(t, "--config", good, "--hosts", "api.internal=127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	g := srv.(*Gateway)
	g.errLog.sink, g.accLog.sink = nil, nil // keep test output quiet
	if len(srv.Info()) != 1 || srv.Info()["admin"] != g.AdminURL() {
		t.Errorf("Info %v", srv.Info())
	}
	if res := get(t, srv.URL()+"/api"); res.status != 200 {
		t.Errorf("via --hosts: %d %q", res.status, res.body)
	}
}

// TestDNSResolver runs a miekg/dns server on loopback: names resolve
// through it, NXDOMAIN becomes Kong's 503 name resolution failed.
func TestDNSResolver(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := dns.NewServeMux()
	mux.HandleFunc(".", func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		if r.Question[0].Name == "api.lab." {
			rr, _ := dns.NewRR("api.lab. 1 IN A 127.0.0.1")
			m.Answer = append(m.Answer, rr)
		} else {
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: mux, NotifyStartedFunc: func() { close(started) }}
	go srv.ActivateAndServe()
	<-started
	defer srv.Shutdown()

	res, err := newDNSResolver(pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	up := echoUpstream(t)
	_, port := hostPort(t, up.URL)
	g := startGateway(t, `_format_version: "3.0"
services:
- name: good
  url: http://api.lab:`+port+`
  routes: [{paths: ["/good"]}]
- name: bad
  url: http://missing.lab:`+port+`
  routes: [{paths: ["/bad"]}]
`, func(o *Options) { o.resolver = res })
	if r := get(t, g.ProxyURL()+"/good"); r.status != 200 {
		t.Errorf("resolvable: %d %q", r.status, r.body)
	}
	r := get(t, g.ProxyURL()+"/bad")
	if r.status != 503 || !strings.Contains(r.body, "name resolution failed") {
		t.Errorf("NXDOMAIN: %d %q", r.status, r.body)
	}
	if l := lastErrorLine(g); !strings.Contains(l, "dns server error: 3 name error") {
		t.Errorf("log %q", l)
	}
}
