package diagnose

import (
	"strings"
	"testing"

	"github.com/chaoslab/chaoslab/fakes/mitm"
	"github.com/chaoslab/chaoslab/fakes/pki"
)

func TestCommandsRender(t *testing.T) {
	c := Commands{Proxy: "http://127.0.0.1:3128", Target: "127.0.0.1:8443", ServerName: "localhost",
		CAFile: "/tmp/lab dir/ca.pem", ClientCert: "client.crt", ClientKey: "client.key"}
	for got, want := range map[string]string{
		c.OpenSSLShowCerts(): "openssl s_client -proxy 127.0.0.1:3128 -connect 127.0.0.1:8443 -servername localhost -showcerts -verify_return_error -CAfile '/tmp/lab dir/ca.pem' </dev/null | openssl x509 -noout -subject -issuer -enddate",
		c.OpenSSLVerdict():   "openssl s_client -proxy 127.0.0.1:3128 -connect 127.0.0.1:8443 -servername localhost -verify_return_error -CAfile '/tmp/lab dir/ca.pem' </dev/null",
		c.CurlProxy():        "curl -v https://localhost:8443/ --proxy http://127.0.0.1:3128 --cacert '/tmp/lab dir/ca.pem'",
		c.CurlMTLS():         "curl -v https://localhost:8443/ --proxy http://127.0.0.1:3128 --cert client.crt --key client.key --cacert '/tmp/lab dir/ca.pem'",
		Commands{Target: "127.0.0.1:8443"}.OpenSSLVerdict():                                     "openssl s_client -connect 127.0.0.1:8443 -servername 127.0.0.1 -verify_return_error </dev/null",
		Commands{Target: "127.0.0.1:8443", ServerName: "api.lab.test", Path: "/v1"}.CurlProxy(): "curl -v https://api.lab.test:8443/v1 --connect-to api.lab.test:8443:127.0.0.1:8443",
	} {
		if got != want {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	}
	if got := (Commands{Target: "127.0.0.1:1"}).CurlTiming(); !strings.HasPrefix(got, `curl -s -o /dev/null -w '{"code":%{http_code},"dns":%{time_namelookup}`) {
		t.Errorf("timing: %s", got)
	}
}

// The rendered commands run against the lab and show what the lesson says.
func TestCommandsRunAgainstTheLab(t *testing.T) {
	needTool(t, "openssl", "openssl")
	needTool(t, "curl", "curl")
	srv, s := labServer(t, pki.ServerTLSFlags{ClientAuth: pki.ClientAuthRequest})
	target := srv.Listener.Addr().String()
	inspect, err := mitm.Start(ctx(t), mitm.Config{UpstreamRoots: s.ClientRoots})
	if err != nil {
		t.Fatal(err)
	}
	defer inspect.Close()
	tunnel, err := mitm.Start(ctx(t), mitm.Config{Mode: mitm.Tunnel})
	if err != nil {
		t.Fatal(err)
	}
	defer tunnel.Close()

	viaInspect := Commands{Proxy: inspect.URL(), Target: target, ServerName: "localhost"}

	out, code := shell(t, viaInspect.OpenSSLVerdict())
	if code == 0 || !strings.Contains(out, "Verify return code: 20 (unable to get local issuer certificate)") {
		t.Fatalf("verdict through the inspecting proxy (exit %d):\n%s", code, out)
	}
	trusting := viaInspect
	trusting.CAFile = inspect.CAPath()
	out, code = shell(t, trusting.OpenSSLShowCerts())
	wantIssuer := "issuer=" + OpenSSLName(inspect.CA().Subject)
	if code != 0 || !strings.Contains(out, wantIssuer) || !strings.Contains(out, "subject=O = chaoslab, CN = localhost") {
		t.Fatalf("show certs trusting the proxy CA: want %q (exit %d):\n%s", wantIssuer, code, out)
	}

	withServerCA := viaInspect
	withServerCA.CAFile = s.CAPath
	if out, code := shell(t, withServerCA.CurlProxy()); code != 60 {
		t.Fatalf("curl through the inspecting proxy with the server's CA: want exit 60, got %d:\n%s", code, out)
	}
	if out, code := shell(t, trusting.CurlProxy()); code != 0 || !strings.Contains(out, "client cert absent") {
		t.Fatalf("curl trusting the proxy CA: exit %d:\n%s", code, out)
	}

	mtls := Commands{Proxy: tunnel.URL(), Target: target, ServerName: "localhost", CAFile: s.CAPath,
		ClientCert: s.ClientPaths.Cert, ClientKey: s.ClientPaths.Key}
	if out, code := shell(t, mtls.CurlMTLS()); code != 0 || !strings.Contains(out, "client cert success") {
		t.Fatalf("mTLS through the tunnel: exit %d:\n%s", code, out)
	}
	timing := Commands{Target: target, ServerName: "localhost", CAFile: s.CAPath}
	if out, code := shell(t, timing.CurlTiming()); code != 0 || !strings.HasPrefix(out, `{"code":200,"dns":`) {
		t.Fatalf("timing: exit %d: %s", code, out)
	}
}
