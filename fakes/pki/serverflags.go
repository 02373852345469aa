package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
)

// ClientAuth is how a lab server asks for client certificates.
type ClientAuth string

const (
	ClientAuthNone    ClientAuth = "none"
	ClientAuthRequest ClientAuth = "request" // ask; serve either way
	ClientAuthRequire ClientAuth = "require" // handshake fails without one
)

// ServerTLSFlags are the TLS flags of `chaoslab fake upstream`:
// --tls, --chain, --cert, --san, --client-auth.
type ServerTLSFlags struct {
	Enabled    bool
	Chain      ChainMode
	Cert       Variant
	SANs       []string
	ClientAuth ClientAuth
}

// Register binds the flags on fs with their defaults.
func (f *ServerTLSFlags) Register(fs *flag.FlagSet) {
	f.Chain, f.Cert, f.ClientAuth = ChainFull, Valid, ClientAuthNone
	fs.BoolVar(&f.Enabled, "tls", false, "serve HTTPS with a fresh lab CA hierarchy (root -> intermediate -> leaf)")
	fs.Func("chain", "full|leaf-only: send the intermediate after the leaf or not (default full)", func(v string) error {
		f.Chain = ChainMode(v)
		return nil
	})
	fs.Func("cert", "valid|expired|not-yet-valid|wrong-san|self-signed (default valid)", func(v string) error {
		f.Cert = Variant(v)
		return nil
	})
	fs.Func("san", "DNS name or IP in the certificate; repeatable or comma list (default localhost,127.0.0.1)", func(v string) error {
		for _, n := range strings.Split(v, ",") {
			if n = strings.TrimSpace(n); n != "" {
				f.SANs = append(f.SANs, n)
			}
		}
		return nil
	})
	fs.Func("client-auth", "none|request|require: ask TLS clients for a certificate (default none)", func(v string) error {
		f.ClientAuth = ClientAuth(v)
		return nil
	})
}

func (f ServerTLSFlags) withDefaults() ServerTLSFlags {
	if f.Chain == "" {
		f.Chain = ChainFull
	}
	if f.Cert == "" {
		f.Cert = Valid
	}
	if f.ClientAuth == "" {
		f.ClientAuth = ClientAuthNone
	}
	return f
}

// Validate returns a one-line error naming the bad flag.
func (f ServerTLSFlags) Validate() error {
	f = f.withDefaults()
	if f.Chain != ChainFull && f.Chain != ChainLeafOnly {
		return fmt.Errorf("--chain: want full or leaf-only, got %q", f.Chain)
	}
	if !slices.Contains(Variants, f.Cert) {
		return fmt.Errorf("--cert: want valid, expired, not-yet-valid, wrong-san or self-signed, got %q", f.Cert)
	}
	switch f.ClientAuth {
	case ClientAuthNone, ClientAuthRequest, ClientAuthRequire:
	default:
		return fmt.Errorf("--client-auth: want none, request or require, got %q", f.ClientAuth)
	}
	for _, s := range f.SANs {
		if !validSAN(s) {
			return fmt.Errorf("--san: %q is not a DNS name or IP address", s)
		}
	}
	if !f.Enabled && (f.Chain != ChainFull || f.Cert != Valid || len(f.SANs) > 0 || f.ClientAuth != ClientAuthNone) {
		return errors.New("--tls: --chain, --cert, --san and --client-auth need --tls")
	}
	return nil
}

func validSAN(s string) bool {
	if net.ParseIP(s) != nil {
		return true
	}
	if s == "" || len(s) > 253 {
		return false
	}
	for _, r := range s {
		ok := r == '-' || r == '.' || r == '*' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		if !ok {
			return false
		}
	}
	return true
}

// Args renders the flags back to the command line (defaults omitted).
func (f ServerTLSFlags) Args() []string {
	f = f.withDefaults()
	if !f.Enabled {
		return nil
	}
	a := []string{"--tls"}
	if f.Chain != ChainFull {
		a = append(a, "--chain", string(f.Chain))
	}
	if f.Cert != Valid {
		a = append(a, "--cert", string(f.Cert))
	}
	if len(f.SANs) > 0 {
		a = append(a, "--san", strings.Join(f.SANs, ","))
	}
	if f.ClientAuth != ClientAuthNone {
		a = append(a, "--client-auth", string(f.ClientAuth))
	}
	return a
}

// ServerTLS is everything Build made, for in-process callers that want more
// than the tls.Config.
type ServerTLS struct {
	Config       *tls.Config
	Root         *CA
	Intermediate *CA
	Server       *Leaf
	// Client is a client certificate signed by the lab root, made
	// when --client-auth is request or require, for the mTLS success case.
	Client *Leaf
	// ClientRoots are the roots a client certificate must chain to (the lab
	// root): pass them to ClientCertStatus.
	ClientRoots *x509.CertPool
	CAPath      string    // ca.pem: the lab root clients should trust
	ClientPaths LeafPaths // client.crt/.key when Client is set
	Files       *Files
}

// ClientCertStatus reports the request's client certificate against the
// lab root (see the package-level ClientCertStatus).
func (s *ServerTLS) ClientCertStatus(r *http.Request) (status, issuer string) {
	return ClientCertStatus(r, s.ClientRoots)
}

// Build makes a fresh root -> intermediate -> leaf hierarchy as the flags
// say, writes it into dir and returns the server's tls.Config and the path
// of the root CA PEM clients should trust. Files lists what was written;
// the caller removes it on Close. Disabled TLS returns a nil config.
func (f ServerTLSFlags) Build(dir string) (*tls.Config, string, *Files, error) {
	s, err := f.BuildServer(dir)
	if err != nil || s == nil {
		return nil, "", nil, err
	}
	return s.Config, s.CAPath, s.Files, nil
}

// BuildServer is Build returning everything it made. Files written in dir:
// ca.pem, intermediate.crt, server.crt (leaf only), server.key,
// fullchain.pem (server.crt + intermediate.crt) and, with client auth,
// client.crt, client.key, client-fullchain.pem.
func (f ServerTLSFlags) BuildServer(dir string) (_ *ServerTLS, err error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	f = f.withDefaults()
	if !f.Enabled {
		return nil, nil
	}
	s := &ServerTLS{}
	if s.Root, err = NewRoot("chaoslab lab root CA"); err != nil {
		return nil, err
	}
	if s.Intermediate, err = s.Root.Intermediate("chaoslab lab intermediate CA"); err != nil {
		return nil, err
	}
	if s.Server, err = s.Intermediate.Leaf(LeafOptions{SANs: f.SANs, Variant: f.Cert}); err != nil {
		return nil, err
	}
	s.ClientRoots = s.Root.RootPool()
	if s.Files, err = NewFiles(dir); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = s.Files.Remove()
		}
	}()
	if s.CAPath, err = s.Files.WriteCA("ca.pem", s.Root); err != nil {
		return nil, err
	}
	if _, err = s.Files.WriteCA("intermediate.crt", s.Intermediate); err != nil {
		return nil, err
	}
	if _, err = s.Files.WriteCerts("server.crt", s.Server.Cert); err != nil {
		return nil, err
	}
	if _, err = s.Files.WriteKey("server.key", s.Server.Key); err != nil {
		return nil, err
	}
	if _, err = s.Files.WriteCerts("fullchain.pem", append([]*x509.Certificate{s.Server.Cert}, s.Server.Chain...)...); err != nil {
		return nil, err
	}
	s.Config = &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{s.Server.TLSCertificate(f.Chain)},
		NextProtos:   []string{"http/1.1"},
	}
	if f.ClientAuth != ClientAuthNone {
		// Signed by the root directly, so client.crt alone is enough for
		// `curl --cert client.crt` against a server trusting ca.pem.
		if s.Client, err = s.Root.Leaf(LeafOptions{CommonName: "chaoslab lab client", Client: true}); err != nil {
			return nil, err
		}
		if s.ClientPaths, err = s.Files.WriteLeaf("client", s.Client); err != nil {
			return nil, err
		}
		// Accept any certificate and judge it in the handler (ClientCertStatus)
		// so a wrong certificate is reported as "failed" instead of killing
		// the handshake. ClientCAs stays empty on purpose: a CA list in the
		// CertificateRequest makes Go clients withhold certificates from other
		// CAs, which would turn "failed" into "absent".
		s.Config.ClientAuth = tls.RequestClientCert
		if f.ClientAuth == ClientAuthRequire {
			s.Config.ClientAuth = tls.RequireAnyClientCert
		}
	}
	return s, nil
}
