package kong

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"
)

func tlsConfig(url, caID, caPEM, extra string) string {
	return fmt.Sprintf(`_format_version: "3.0"
ca_certificates:
- id: %s
  cert: |
%s
services:
- name: secure
  url: %s
  retries: 0
%s
  routes:
  - paths: ["/s"]
`, caID, indent(caPEM, 4), url, indent(extra, 2))
}

func selfSignedLeaf(t *testing.T, name string) tls.Certificate {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestTLSVerification(t *testing.T) {
	const caID = "8f0f5e8e-4b0f-4b0e-9f4e-1c2d3e4f5a6b"
	ca := newTestCA(t, "lab CA")
	other := newTestCA(t, "other CA")
	good := tlsUpstream(t, ca.leaf(t, "localhost", "api.lab"))
	_, goodPort := hostPort(t, good.URL)
	selfSigned := tlsUpstream(t, selfSignedLeaf(t, "localhost"))
	_, ssPort := hostPort(t, selfSigned.URL)

	cases := []struct {
		name, url, extra string
		resolve          map[string][]string
		status           int
		log              string
	}{
		{"trusted CA", "https://localhost:" + goodPort, "tls_verify: true\nca_certificates: [" + caID + "]", nil, 200, ""},
		{"trusted CA via name", "https://api.lab:" + goodPort, "tls_verify: true\nca_certificates: [" + caID + "]", map[string][]string{"api.lab": {"127.0.0.1"}}, 200, ""},
		{"verify off accepts anything", "https://localhost:" + ssPort, "", nil, 200, ""},
		{"name mismatch", "https://mismatch.lab:" + goodPort, "tls_verify: true\nca_certificates: [" + caID + "]", map[string][]string{"mismatch.lab": {"127.0.0.1"}}, 502,
			`upstream SSL certificate does not match "mismatch.lab" while SSL handshaking to upstream`},
		{"self-signed leaf", "https://localhost:" + ssPort, "tls_verify: true\nca_certificates: [" + caID + "]", nil, 502,
			"upstream SSL certificate verify error: (18:self-signed certificate) while SSL handshaking to upstream"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := startGateway(t, tlsConfig(tc.url, caID, ca.pem, tc.extra), func(o *Options) { o.resolver = staticResolver(tc.resolve) })
			res := get(t, g.ProxyURL()+"/s")
			if res.status != tc.status {
				t.Fatalf("status %d %q, want %d; log %q", res.status, res.body, tc.status, g.errorLines())
			}
			if tc.log != "" && !strings.Contains(lastErrorLine(g), tc.log) {
				t.Errorf("log %q, want %q", lastErrorLine(g), tc.log)
			}
		})
	}
	// A CA that did not sign the upstream: unable to get local issuer.
	g := startGateway(t, tlsConfig("https://localhost:"+goodPort, caID, other.pem, "tls_verify: true\nca_certificates: ["+caID+"]"))
	if res := get(t, g.ProxyURL()+"/s"); res.status != 502 || !strings.Contains(lastErrorLine(g), "(20:unable to get local issuer certificate)") {
		t.Errorf("wrong CA: %d, log %q", res.status, lastErrorLine(g))
	}
}

func TestNameResolution(t *testing.T) {
	up := echoUpstream(t)
	_, port := hostPort(t, up.URL)
	cfg := serviceConfig("http://api.internal:"+port, "")
	g := startGateway(t, cfg) // default resolver: only IPs and localhost
	res := get(t, g.ProxyURL()+"/api")
	id := res.header.Get("X-Kong-Request-Id")
	if res.status != 503 || res.body != "{\n  \"message\":\"name resolution failed\",\n  \"request_id\":\""+id+"\"\n}" {
		t.Fatalf("got %d %q", res.status, res.body)
	}
	if res.header.Get("X-Kong-Response-Latency") == "" {
		t.Errorf("Kong-answered 503 without X-Kong-Response-Latency: %v", res.header)
	}
	if l := lastErrorLine(g); !strings.Contains(l, "DNS resolution failed: dns server error: 3 name error") {
		t.Errorf("error log %q", l)
	}

	g2 := startGateway(t, cfg, func(o *Options) { o.resolver = staticResolver{"api.internal": {"127.0.0.1"}} })
	res = get(t, g2.ProxyURL()+"/api")
	if res.status != 200 {
		t.Fatalf("with a static entry: %d %q", res.status, res.body)
	}
	if e := decodeEcho(t, res.body); e.Host != "api.internal:"+port {
		t.Errorf("Host header %q", e.Host)
	}
}

func TestNonLoopbackRefused(t *testing.T) {
	g := startGateway(t, serviceConfig("http://api.internal:80", "retries: 0"), func(o *Options) {
		o.resolver = staticResolver{"api.internal": {"192.0.2.10"}}
	})
	res := get(t, g.ProxyURL()+"/api")
	if res.status != 502 || !strings.Contains(lastErrorLine(g), "only connects to loopback") {
		t.Fatalf("got %d, log %q", res.status, lastErrorLine(g))
	}
}

// nginx checks DNS names only (X509_check_host): real Kong 3.9.1 with
// tls_verify rejects an upstream reached by IP even when its certificate
// carries that IP SAN.
func TestTLSVerifyByIPMatchesDNSNamesOnly(t *testing.T) {
	const caID = "8f0f5e8e-4b0f-4b0e-9f4e-1c2d3e4f5a6c"
	ca := newTestCA(t, "lab CA")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	up := tlsUpstream(t, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key})
	_, port := hostPort(t, up.URL)
	g := startGateway(t, tlsConfig("https://127.0.0.1:"+port, caID, ca.pem, "tls_verify: true\nca_certificates: ["+caID+"]"))
	if res := get(t, g.ProxyURL()+"/s"); res.status != 502 || !strings.Contains(lastErrorLine(g), `upstream SSL certificate does not match "127.0.0.1"`) {
		t.Errorf("by IP: %d, log %q; want 502 and the name mismatch", res.status, lastErrorLine(g))
	}
	g = startGateway(t, tlsConfig("https://localhost:"+port, caID, ca.pem, "tls_verify: true\nca_certificates: ["+caID+"]"))
	if res := get(t, g.ProxyURL()+"/s"); res.status != 200 {
		t.Errorf("by name: %d %q, want 200", res.status, res.body)
	}
}

// Kong answers 503 "name resolution failed" only for a name error or an
// empty answer; a resolver it cannot reach makes balancer.execute fail with
// 500 (real Kong 3.9.1 with nothing listening on its dns_resolver).
func TestUnreachableResolverIs500(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := pc.LocalAddr().String()
	pc.Close()
	r, err := newDNSResolver(closed)
	if err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, serviceConfig("http://api.internal:1", ""), func(o *Options) { o.resolver = r })
	res := get(t, g.ProxyURL()+"/api")
	if res.status != 500 || !strings.Contains(res.body, "failed the initial dns/balancer resolve for 'api.internal' with: dns server error") {
		t.Fatalf("got %d %q, want 500 naming the resolver failure", res.status, res.body)
	}
}
