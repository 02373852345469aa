package mitm

import (
	"context"
	"flag"
	"reflect"
	"strings"
	"testing"

	"github.com/chaoslab/chaoslab/fakes"
	"github.com/chaoslab/chaoslab/fakes/pki"
)

func parse(t *testing.T, args []string) (Config, fakes.Starter, error) {
	t.Helper()
	def, ok := fakes.Lookup("mitm")
	if !ok {
		t.Fatal(`fake "mitm" not registered`)
	}
	fs := flag.NewFlagSet("mitm", flag.ContinueOnError)
	start := def.Flags(fs)
	err := fs.Parse(args)
	// The Starter's Config is private to it: parse the same args into one
	// we can see.
	var c Config
	fs2 := flag.NewFlagSet("mitm", flag.ContinueOnError)
	c.RegisterFlags(fs2)
	if err == nil {
		err = fs2.Parse(args)
	}
	return c, start, err
}

func TestArgsRoundTrip(t *testing.T) {
	for _, in := range []Config{
		{},
		{Listen: "127.0.0.1:18080", Mode: Tunnel},
		{Mode: Inspect, Bypass: []string{"localhost", "*.corp.test"}, UpstreamCAFile: "/lab/ca.pem",
			ClientCertFile: "/lab/client.crt", ClientKeyFile: "/lab/client.key", Dir: "/lab"},
	} {
		out, _, err := parse(t, in.Args())
		if err != nil {
			t.Fatalf("%v: %v", in.Args(), err)
		}
		if !reflect.DeepEqual(out, in.withDefaults()) {
			t.Fatalf("round trip %v:\n got %+v\nwant %+v", in.Args(), out, in.withDefaults())
		}
	}
}

func TestStarterValidatesWithOneLineErrorsNamingTheFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{"--mode", "sniff"}, "--mode:"},
		{[]string{"--listen", "nonsense"}, "--listen:"},
		{[]string{"--client-cert", "/x.crt"}, "--client-cert:"},
		{[]string{"--upstream-ca", "/does/not/exist.pem"}, "--upstream-ca:"},
		{[]string{"--client-cert", "/no.crt", "--client-key", "/no.key"}, "--client-cert:"},
	} {
		_, start, err := parse(t, tc.args)
		if err != nil {
			t.Fatal(err)
		}
		srv, err := start(context.Background())
		if err == nil {
			_ = srv.Close()
			t.Fatalf("%v: started", tc.args)
		}
		if !strings.HasPrefix(err.Error(), tc.flag) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: want one-line error starting %q, got %q", tc.args, tc.flag, err)
		}
	}
}

func TestStarterRunsTheProxy(t *testing.T) {
	dir := t.TempDir()
	lab, err := pki.ServerTLSFlags{Enabled: true, ClientAuth: pki.ClientAuthRequest}.BuildServer(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer lab.Files.Remove()
	_, start, err := parse(t, []string{"--bypass", "a.test", "--bypass", "b.test,c.test",
		"--upstream-ca", lab.CAPath, "--client-cert", lab.ClientPaths.FullChain, "--client-key", lab.ClientPaths.Key,
		"--dir", dir})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	p := srv.(*Proxy)
	if !strings.HasPrefix(srv.URL(), "http://127.0.0.1:") {
		t.Fatalf("URL %q", srv.URL())
	}
	if info := srv.Info(); len(info) != 1 || info["ca"] != dir+"/"+CAFileName {
		t.Fatalf("Info %v", info)
	}
	if !reflect.DeepEqual(p.cfg.Bypass, []string{"a.test", "b.test", "c.test"}) || p.clientCert == nil || p.upstreamRoots == nil {
		t.Fatalf("flags not applied: %+v", p.cfg)
	}
}
