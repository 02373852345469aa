package pki

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"time"
)

// Variant is the fault a leaf certificate carries.
type Variant string

const (
	Valid       Variant = "valid"
	Expired     Variant = "expired"       // NotAfter a day ago
	NotYetValid Variant = "not-yet-valid" // NotBefore a day ahead
	WrongSAN    Variant = "wrong-san"     // names only WrongSANName
	SelfSigned  Variant = "self-signed"   // signed by its own key, no chain
)

// Variants lists every Variant, in the order the CLI documents them.
var Variants = []Variant{Valid, Expired, NotYetValid, WrongSAN, SelfSigned}

// WrongSANName is the only name a WrongSAN leaf carries: a reserved name
// (RFC 2606 .invalid) no client of the lab ever dials.
const WrongSANName = "wrong-host.chaoslab.invalid"

// DefaultSANs are the names a leaf carries when none are given: what a lab
// client on the same machine dials.
var DefaultSANs = []string{"localhost", "127.0.0.1"}

// LeafOptions say what leaf to make.
type LeafOptions struct {
	// SANs are DNS names or IP addresses; DefaultSANs when empty.
	SANs []string
	// CommonName defaults to the first SAN (WrongSANName for WrongSAN).
	CommonName string
	Variant    Variant // default Valid
	// Client makes a TLS client certificate (ExtKeyUsageClientAuth) for mTLS
	// instead of a server certificate.
	Client bool
	// Lifetime of a Valid leaf; 24h when zero.
	Lifetime time.Duration
}

// Leaf is an end-entity certificate with its key and the intermediates a
// peer needs to chain it to its root.
type Leaf struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	// Chain is the intermediates, nearest first, root excluded. Empty for a
	// self-signed leaf or one signed by a root directly.
	Chain  []*x509.Certificate
	Issuer *CA // nil when self-signed
}

// ChainMode is what a server sends after its leaf.
type ChainMode string

const (
	ChainFull     ChainMode = "full"      // leaf + intermediates (fullchain.pem)
	ChainLeafOnly ChainMode = "leaf-only" // the classic missing-intermediate fault
)

// Leaf makes an end-entity certificate signed by ca (by itself for the
// SelfSigned variant).
func (ca *CA) Leaf(opts LeafOptions) (*Leaf, error) {
	variant := opts.Variant
	if variant == "" {
		variant = Valid
	}
	sans := opts.SANs
	if len(sans) == 0 {
		sans = DefaultSANs
	}
	if variant == WrongSAN {
		sans = []string{WrongSANName}
	}
	cn := opts.CommonName
	if cn == "" {
		cn = sans[0]
	}
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	lifetime := opts.Lifetime
	if lifetime <= 0 {
		lifetime = 24 * time.Hour
	}
	// An hour of backdating absorbs clock differences between containers.
	now := time.Now()
	notBefore, notAfter := now.Add(-time.Hour), now.Add(lifetime)
	switch variant {
	case Valid, WrongSAN, SelfSigned:
	case Expired:
		notBefore, notAfter = now.Add(-48*time.Hour), now.Add(-24*time.Hour)
	case NotYetValid:
		notBefore, notAfter = now.Add(24*time.Hour), now.Add(48*time.Hour)
	default:
		return nil, fmt.Errorf("pki: unknown certificate variant %q (want one of %v)", variant, Variants)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{Organization}, CommonName: cn},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	if opts.Client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	for _, n := range sans {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	if variant == SelfSigned {
		// Made the way `openssl req -x509` makes one (CA:TRUE, may sign
		// certificates), so OpenSSL recognises it as self-signed and says
		// error 18 rather than "unable to get local issuer" (20).
		tmpl.IsCA = true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
		cert, err := sign(tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			return nil, fmt.Errorf("pki: self-signed leaf %q: %w", cn, err)
		}
		return &Leaf{Cert: cert, Key: key}, nil
	}
	cert, err := sign(tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("pki: leaf %q: %w", cn, err)
	}
	return &Leaf{Cert: cert, Key: key, Chain: ca.Intermediates(), Issuer: ca}, nil
}

// SelfSignedLeaf makes a leaf signed by its own key, belonging to no CA
// (the "openssl req -x509" certificate behind verify error 18).
func SelfSignedLeaf(opts LeafOptions) (*Leaf, error) {
	opts.Variant = SelfSigned
	var none *CA // never dereferenced for SelfSigned
	return none.Leaf(opts)
}

// TLSCertificate is the leaf as a server (or client) presents it: the leaf
// followed by its intermediates (ChainFull) or alone (ChainLeafOnly).
func (l *Leaf) TLSCertificate(mode ChainMode) tls.Certificate {
	chain := [][]byte{l.Cert.Raw}
	if mode != ChainLeafOnly {
		for _, c := range l.Chain {
			chain = append(chain, c.Raw)
		}
	}
	return tls.Certificate{Certificate: chain, PrivateKey: l.Key, Leaf: l.Cert}
}
