package diagnose

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/chaoslab/chaoslab/fakes/mitm"
	"github.com/chaoslab/chaoslab/fakes/pki"

	"github.com/chaoslab/chaoslab/load"
)

type variantCase struct {
	name     string
	flags    pki.ServerTLSFlags
	certs    int
	code     int
	kind     load.ErrorKind
	selfSign bool
}

var variantCases = []variantCase{
	{"valid full chain", pki.ServerTLSFlags{}, 2, CodeOK, "", false},
	{"leaf only", pki.ServerTLSFlags{Chain: pki.ChainLeafOnly}, 1, CodeUnableToGetLocalIssuer, load.ErrUnknownAuthority, false},
	{"self-signed", pki.ServerTLSFlags{Cert: pki.SelfSigned}, 1, CodeSelfSigned, load.ErrUnknownAuthority, true},
	{"expired", pki.ServerTLSFlags{Cert: pki.Expired}, 2, CodeExpired, load.ErrExpired, false},
	{"not yet valid", pki.ServerTLSFlags{Cert: pki.NotYetValid}, 2, CodeNotYetValid, load.ErrNotYetValid, false},
	{"wrong SAN", pki.ServerTLSFlags{Cert: pki.WrongSAN}, 2, CodeHostnameMismatch, load.ErrHostname, false},
}

func TestChainDirect(t *testing.T) {
	for _, tc := range variantCases {
		t.Run(tc.name, func(t *testing.T) {
			srv, s := labServer(t, tc.flags)
			rep, err := Chain(ctx(t), srv.Listener.Addr().String(), "localhost", "", s.ClientRoots)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Certs) != tc.certs || rep.VerifyCode != tc.code || rep.GoKind != tc.kind || rep.OK() != (tc.code == 0) {
				t.Fatalf("want %d certs, code %d, kind %q; got:\n%s", tc.certs, tc.code, tc.kind, rep)
			}
			if rep.VerifyText != VerifyText(tc.code) || rep.Certs[0].SelfSigned != tc.selfSign {
				t.Fatalf("report:\n%s", rep)
			}
			if tc.code != 0 && !strings.HasPrefix(rep.VerifyErr.Error(), "tls: failed to verify certificate: x509: ") {
				t.Fatalf("Go error should read as crypto/tls reports it: %v", rep.VerifyErr)
			}
			want := fmt.Sprintf("Verify return code: %d (%s)", tc.code, VerifyText(tc.code))
			if !strings.Contains(rep.String(), want) || !strings.Contains(rep.String(), " 0 s:O = chaoslab, CN = ") {
				t.Fatalf("String() lacks %q:\n%s", want, rep)
			}
		})
	}
}

// A chain that carries its own root, which the client does not trust.
func TestChainSelfSignedRootInChain(t *testing.T) {
	root, _ := pki.NewRoot("bundled root")
	inter, _ := root.Intermediate("bundled intermediate")
	leaf, err := inter.Leaf(pki.LeafOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cert := leaf.TLSCertificate(pki.ChainFull)
	cert.Certificate = append(cert.Certificate, root.Cert.Raw)
	srv := serveTLS(t, &tls.Config{Certificates: []tls.Certificate{cert}}, nil)
	other, _ := pki.NewRoot("the client's root")
	rep, err := Chain(ctx(t), srv.Listener.Addr().String(), "localhost", "", other.RootPool())
	if err != nil {
		t.Fatal(err)
	}
	if rep.VerifyCode != CodeSelfSignedInChain || len(rep.Certs) != 3 || rep.GoKind != load.ErrUnknownAuthority {
		t.Fatalf("report:\n%s", rep)
	}
	if opensslCode := opensslVerifyCode(t, srv.Listener.Addr().String(), caFile(t, other)); opensslCode != CodeSelfSignedInChain {
		t.Fatalf("openssl says %d", opensslCode)
	}
}

func caFile(t *testing.T, ca *pki.CA) string {
	t.Helper()
	f, err := pki.NewFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.WriteCA("ca.pem", ca)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var verifyReturn = regexp.MustCompile(`Verify return code: (\d+) \(([^)]*)\)`)

// opensslVerifyCode asks the real openssl for its verdict, as curl sees it
// (stop at the first error, check the host name).
func opensslVerifyCode(t *testing.T, target, caPath string) int {
	t.Helper()
	needTool(t, "openssl", "openssl")
	out, _ := shell(t, fmt.Sprintf("openssl s_client -connect %s -servername localhost -verify_hostname localhost -verify_return_error -CAfile %s </dev/null", target, caPath))
	m := verifyReturn.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no verify return code in openssl output:\n%s", out)
	}
	code, _ := strconv.Atoi(m[1])
	if m[2] != VerifyText(code) {
		t.Errorf("openssl text for %d is %q, ours %q", code, m[2], VerifyText(code))
	}
	return code
}

// The OpenSSL emulation must agree with the real openssl on every fault.
func TestVerifyCodeMatchesRealOpenSSL(t *testing.T) {
	needTool(t, "openssl", "openssl")
	for _, tc := range variantCases {
		t.Run(tc.name, func(t *testing.T) {
			srv, s := labServer(t, tc.flags)
			rep, err := Chain(ctx(t), srv.Listener.Addr().String(), "localhost", "", s.ClientRoots)
			if err != nil {
				t.Fatal(err)
			}
			if got := opensslVerifyCode(t, srv.Listener.Addr().String(), s.CAPath); got != rep.VerifyCode {
				t.Fatalf("openssl says %d, diagnose says %d", got, rep.VerifyCode)
			}
		})
	}
}

func TestChainThroughProxyAndCompare(t *testing.T) {
	srv, s := labServer(t, pki.ServerTLSFlags{})
	target := srv.Listener.Addr().String()
	direct, err := Chain(ctx(t), target, "localhost", "", s.ClientRoots)
	if err != nil || !direct.OK() {
		t.Fatalf("direct: %v\n%v", err, direct)
	}

	inspect, err := mitm.Start(ctx(t), mitm.Config{UpstreamRoots: s.ClientRoots})
	if err != nil {
		t.Fatal(err)
	}
	defer inspect.Close()
	via, err := Chain(ctx(t), target, "localhost", inspect.URL(), s.ClientRoots)
	if err != nil {
		t.Fatal(err)
	}
	if via.Issuer() != inspect.CA().Subject.String() || via.VerifyCode != CodeUnableToGetLocalIssuer || via.GoKind != load.ErrUnknownAuthority {
		t.Fatalf("via inspecting proxy:\n%s", via)
	}
	if !strings.Contains(via.String(), "via proxy "+inspect.URL()) || !strings.Contains(via.String(), "i:O = chaoslab, CN = chaoslab mitm root CA") {
		t.Fatalf("String():\n%s", via)
	}
	cmp := Compare(direct, via)
	if !cmp.IssuerDiffers || !strings.HasPrefix(cmp.String(), "issuer differs") {
		t.Fatalf("compare: %s", cmp)
	}
	// Trusting the proxy CA is the client-side fix.
	fixed, err := Chain(ctx(t), target, "localhost", strings.TrimPrefix(inspect.URL(), "http://"), pki.Pool(inspect.CA()))
	if err != nil || !fixed.OK() {
		t.Fatalf("trusting the proxy CA: %v\n%v", err, fixed)
	}

	tunnel, err := mitm.Start(ctx(t), mitm.Config{Mode: mitm.Tunnel})
	if err != nil {
		t.Fatal(err)
	}
	defer tunnel.Close()
	tv, err := Chain(ctx(t), target, "localhost", tunnel.URL(), s.ClientRoots)
	if err != nil || !tv.OK() {
		t.Fatalf("via tunnel: %v\n%v", err, tv)
	}
	if cmp := Compare(direct, tv); cmp.IssuerDiffers || !strings.HasPrefix(cmp.String(), "same issuer") {
		t.Fatalf("compare: %s", cmp)
	}
}

func TestChainErrors(t *testing.T) {
	p, err := mitm.Start(ctx(t), mitm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// The proxy cannot reach the target: its 502 text comes through.
	_, err = Chain(ctx(t), "127.0.0.1:1", "", p.URL(), nil)
	if err == nil || !strings.Contains(err.Error(), "502 Bad Gateway") || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("want the proxy's 502, got %v", err)
	}
	if _, err := Chain(ctx(t), "127.0.0.1:1", "", "", nil); err == nil {
		t.Fatal("direct to a closed port must fail")
	}
	if _, err := Chain(ctx(t), "no-port", "", "", nil); err == nil {
		t.Fatal("target without port must fail")
	}
	if _, err := Chain(ctx(t), "127.0.0.1:1", "", "socks5://127.0.0.1:1", nil); err == nil {
		t.Fatal("non-http proxy must fail")
	}
}

func TestOpenSSLNameQuotes(t *testing.T) {
	root, _ := pki.NewRoot("Acme, Inc. root")
	if got := OpenSSLName(root.Cert.Subject); got != `O = chaoslab, CN = "Acme, Inc. root"` {
		t.Fatalf("got %s", got)
	}
	var _ *x509.Certificate = root.Cert
}
