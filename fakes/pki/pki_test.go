package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serve starts an HTTPS server with cfg whose body is the client cert status.
func serve(t *testing.T, s *ServerTLS) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, iss := s.ClientCertStatus(r)
		_, _ = io.WriteString(w, st+"|"+iss)
	}))
	srv.TLS = s.Config
	// Handshakes the clients reject are the point of these tests.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func client(roots *x509.CertPool, cert *tls.Certificate) *http.Client {
	cfg := &tls.Config{RootCAs: roots}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
}

func get(t *testing.T, c *http.Client, url string) (string, error) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func build(t *testing.T, f ServerTLSFlags) *ServerTLS {
	t.Helper()
	f.Enabled = true
	s, err := f.BuildServer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Files.Remove() })
	return s
}

func TestVariantsAsSeenByAGoClient(t *testing.T) {
	cases := []struct {
		name  string
		flags ServerTLSFlags
		check func(error) bool
		want  string
	}{
		{"valid full chain", ServerTLSFlags{}, func(err error) bool { return err == nil }, "ok"},
		{"leaf-only", ServerTLSFlags{Chain: ChainLeafOnly}, isErr[x509.UnknownAuthorityError], "unknown authority"},
		{"self-signed", ServerTLSFlags{Cert: SelfSigned}, isErr[x509.UnknownAuthorityError], "unknown authority"},
		{"wrong-san", ServerTLSFlags{Cert: WrongSAN}, isErr[x509.HostnameError], "hostname error"},
		{"expired", ServerTLSFlags{Cert: Expired}, invalidBecause(x509.Expired, "after"), "expired"},
		{"not-yet-valid", ServerTLSFlags{Cert: NotYetValid}, invalidBecause(x509.Expired, "before"), "not yet valid"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := build(t, tc.flags)
			srv := serve(t, s)
			_, err := get(t, client(s.ClientRoots, nil), srv.URL)
			if !tc.check(err) {
				t.Fatalf("want %s, got %v", tc.want, err)
			}
		})
	}
}

func isErr[E error](err error) bool {
	var e E
	return errors.As(err, &e)
}

func invalidBecause(r x509.InvalidReason, word string) func(error) bool {
	return func(err error) bool {
		var e x509.CertificateInvalidError
		return errors.As(err, &e) && e.Reason == r && strings.Contains(e.Detail, word)
	}
}

func TestLeafOnlyVerifiesWhenClientHoldsIntermediate(t *testing.T) {
	s := build(t, ServerTLSFlags{Chain: ChainLeafOnly})
	srv := serve(t, s)
	// The fix a trainee can also apply on the client side: trust the
	// intermediate too. Proves leaf-only really lacks only the intermediate.
	roots := Pool(s.Root.Cert, s.Intermediate.Cert)
	if _, err := get(t, client(roots, nil), srv.URL); err != nil {
		t.Fatal(err)
	}
}

func TestCustomSANs(t *testing.T) {
	s := build(t, ServerTLSFlags{SANs: []string{"api.lab.test", "127.0.0.1"}})
	if !reflect.DeepEqual(s.Server.Cert.DNSNames, []string{"api.lab.test"}) || len(s.Server.Cert.IPAddresses) != 1 {
		t.Fatalf("SANs: dns %v ip %v", s.Server.Cert.DNSNames, s.Server.Cert.IPAddresses)
	}
	srv := serve(t, s)
	c := client(s.ClientRoots, nil)
	c.Transport.(*http.Transport).TLSClientConfig.ServerName = "api.lab.test"
	if _, err := get(t, c, srv.URL); err != nil {
		t.Fatal(err)
	}
	c.Transport.(*http.Transport).TLSClientConfig.ServerName = "localhost"
	if _, err := get(t, c, srv.URL); !isErr[x509.HostnameError](err) {
		t.Fatalf("localhost is not a SAN any more: want hostname error, got %v", err)
	}
}

func TestClientAuth(t *testing.T) {
	foreignRoot, err := NewRoot("someone else's CA")
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := foreignRoot.Leaf(LeafOptions{Client: true, CommonName: "stranger"})
	if err != nil {
		t.Fatal(err)
	}
	foreignCert := foreign.TLSCertificate(ChainFull)

	t.Run("none: no certificate asked, absent", func(t *testing.T) {
		s := build(t, ServerTLSFlags{})
		if s.Client != nil {
			t.Fatal("no client cert should be made without --client-auth")
		}
		srv := serve(t, s)
		body, err := get(t, client(s.ClientRoots, &foreignCert), srv.URL)
		if err != nil || body != "absent|" {
			t.Fatalf("got %q, %v", body, err)
		}
	})
	s := build(t, ServerTLSFlags{ClientAuth: ClientAuthRequest})
	srv := serve(t, s)
	labCert := s.Client.TLSCertificate(ChainFull)
	for _, tc := range []struct {
		name string
		cert *tls.Certificate
		want string
	}{
		{"request, no cert", nil, "absent|"},
		{"request, lab cert", &labCert, "success|CN=chaoslab lab root CA,O=chaoslab"},
		{"request, foreign cert", &foreignCert, "failed|CN=someone else's CA,O=chaoslab"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, err := get(t, client(s.ClientRoots, tc.cert), srv.URL)
			if err != nil || body != tc.want {
				t.Fatalf("want %q, got %q, %v", tc.want, body, err)
			}
		})
	}
	t.Run("require, no cert: handshake refused", func(t *testing.T) {
		s := build(t, ServerTLSFlags{ClientAuth: ClientAuthRequire})
		srv := serve(t, s)
		_, err := get(t, client(s.ClientRoots, nil), srv.URL)
		if err == nil || !strings.Contains(err.Error(), "certificate required") {
			t.Fatalf("want remote error certificate required, got %v", err)
		}
		labCert := s.Client.TLSCertificate(ChainFull)
		if body, err := get(t, client(s.ClientRoots, &labCert), srv.URL); err != nil || !strings.HasPrefix(body, "success|") {
			t.Fatalf("lab client cert: got %q, %v", body, err)
		}
	})
}

func TestFilesWrittenAndRemoved(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "lab", "tls")
	s, err := ServerTLSFlags{Enabled: true, ClientAuth: ClientAuthRequire}.BuildServer(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ca.pem", "intermediate.crt", "server.crt", "server.key", "fullchain.pem", "client.crt", "client.key", "client-fullchain.pem"}
	var got []string
	for _, p := range s.Files.Written() {
		got = append(got, filepath.Base(p))
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("written %v, want %v", got, want)
	}
	for _, name := range []string{"server.key", "client.key"} {
		st, err := os.Stat(s.Files.Path(name))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: mode %v, %v", name, st.Mode().Perm(), err)
		}
	}
	// fullchain.pem is server.crt followed by intermediate.crt.
	full, _ := os.ReadFile(s.Files.Path("fullchain.pem"))
	leaf, _ := os.ReadFile(s.Files.Path("server.crt"))
	inter, _ := os.ReadFile(s.Files.Path("intermediate.crt"))
	if string(full) != string(leaf)+string(inter) {
		t.Fatal("fullchain.pem is not server.crt + intermediate.crt")
	}
	// The files are loadable the way a server or curl loads them.
	if _, err := tls.LoadX509KeyPair(s.Files.Path("fullchain.pem"), s.Files.Path("server.key")); err != nil {
		t.Fatal(err)
	}
	pool, err := LoadPool(s.CAPath)
	if err != nil || !pool.Equal(s.ClientRoots) {
		t.Fatalf("ca.pem does not hold the lab root: %v", err)
	}
	if err := s.Files.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("directory made by Files should be gone: %v", err)
	}
	if err := s.Files.Remove(); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
}

func TestRemoveKeepsCallersDirectory(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "keep.txt")
	if err := os.WriteFile(other, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, files, err := ServerTLSFlags{Enabled: true}.Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := files.Remove(); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "keep.txt" {
		t.Fatalf("left %v", entries)
	}
}

func TestFlagsArgsRoundTrip(t *testing.T) {
	for _, in := range []ServerTLSFlags{
		{},
		{Enabled: true},
		{Enabled: true, Chain: ChainLeafOnly, Cert: Expired, SANs: []string{"a.test", "127.0.0.1"}, ClientAuth: ClientAuthRequire},
		{Enabled: true, Cert: SelfSigned, ClientAuth: ClientAuthRequest},
	} {
		var out ServerTLSFlags
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		out.Register(fs)
		if err := fs.Parse(in.Args()); err != nil {
			t.Fatal(err)
		}
		if err := out.Validate(); err != nil {
			t.Fatalf("%v: %v", in.Args(), err)
		}
		if !reflect.DeepEqual(out, in.withDefaults()) {
			t.Fatalf("round trip %v: got %+v, want %+v", in.Args(), out, in.withDefaults())
		}
	}
	// Repeated --san and comma lists add up.
	var f ServerTLSFlags
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	f.Register(fs)
	if err := fs.Parse([]string{"--tls", "--san", "a.test,b.test", "--san", "::1"}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.SANs, []string{"a.test", "b.test", "::1"}) {
		t.Fatalf("SANs %v", f.SANs)
	}
}

func TestValidateNamesTheFlag(t *testing.T) {
	for _, tc := range []struct {
		f    ServerTLSFlags
		flag string
	}{
		{ServerTLSFlags{Enabled: true, Chain: "half"}, "--chain:"},
		{ServerTLSFlags{Enabled: true, Cert: "broken"}, "--cert:"},
		{ServerTLSFlags{Enabled: true, ClientAuth: "maybe"}, "--client-auth:"},
		{ServerTLSFlags{Enabled: true, SANs: []string{"bad name"}}, "--san:"},
		{ServerTLSFlags{Cert: Expired}, "--tls:"},
	} {
		err := tc.f.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), tc.flag) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%+v: want one-line error starting %q, got %v", tc.f, tc.flag, err)
		}
	}
	if _, _, _, err := (ServerTLSFlags{Enabled: true, Chain: "half"}).Build(t.TempDir()); err == nil {
		t.Error("Build must validate")
	}
}

func TestDisabledBuildsNothing(t *testing.T) {
	dir := t.TempDir()
	cfg, ca, files, err := ServerTLSFlags{}.Build(dir)
	if cfg != nil || ca != "" || files != nil || err != nil {
		t.Fatalf("got %v %q %v %v", cfg, ca, files, err)
	}
	if err := files.Remove(); err != nil {
		t.Fatal("Remove on nil Files must be a no-op")
	}
}

func TestSelfSignedLeafNeedsNoCA(t *testing.T) {
	l, err := SelfSignedLeaf(LeafOptions{SANs: []string{"self.test"}})
	if err != nil {
		t.Fatal(err)
	}
	if l.Issuer != nil || len(l.Chain) != 0 || l.Cert.Issuer.String() != l.Cert.Subject.String() {
		t.Fatalf("not self-signed: issuer %v chain %d", l.Cert.Issuer, len(l.Chain))
	}
	if _, err := l.Cert.Verify(x509.VerifyOptions{Roots: Pool(l.Cert), DNSName: "self.test"}); err != nil {
		t.Fatalf("trusting itself it should verify: %v", err)
	}
}
