// Package pki builds throw-away certificate authorities in memory for the
// lab: a root, intermediates under it and leaves with the faults real
// servers show (expired, not yet valid, wrong SAN, self-signed, chain sent
// without its intermediate), plus client certificates for mTLS. Keys are
// ECDSA P-256 because a whole hierarchy must be made in milliseconds for
// every scenario.
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"time"
)

// Organization is put in every subject the package makes, so a trainee can
// tell lab certificates from real ones at a glance.
const Organization = "chaoslab"

// CA validity is wide on purpose: expired and not-yet-valid leaves must
// still sit inside their issuer's validity, so that the only fault a client
// finds is the leaf's own dates.
const (
	caBackdate = 30 * 24 * time.Hour
	caLifetime = 10 * 365 * 24 * time.Hour
)

// CA is a certificate authority: a root (Parent nil) or an intermediate.
type CA struct {
	Name   string
	Cert   *x509.Certificate
	Key    *ecdsa.PrivateKey
	Parent *CA // nil for a root
}

// NewRoot makes a self-signed root CA whose subject is CN=name, O=chaoslab.
func NewRoot(name string) (*CA, error) {
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	tmpl, err := caTemplate(name, 1)
	if err != nil {
		return nil, err
	}
	cert, err := sign(tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("pki: root %q: %w", name, err)
	}
	return &CA{Name: name, Cert: cert, Key: key}, nil
}

// Intermediate makes a CA signed by ca. It may sign leaves but not further
// CAs (path length 0), like the issuing CAs of public PKIs.
func (ca *CA) Intermediate(name string) (*CA, error) {
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	tmpl, err := caTemplate(name, 0)
	if err != nil {
		return nil, err
	}
	cert, err := sign(tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("pki: intermediate %q: %w", name, err)
	}
	return &CA{Name: name, Cert: cert, Key: key, Parent: ca}, nil
}

// Root is the root at the top of ca's hierarchy (ca itself for a root).
func (ca *CA) Root() *CA {
	r := ca
	for r.Parent != nil {
		r = r.Parent
	}
	return r
}

// Intermediates lists the CA certificates between a leaf signed by ca and
// the root, nearest first, root excluded: what a server must send after its
// leaf ("fullchain").
func (ca *CA) Intermediates() []*x509.Certificate {
	var out []*x509.Certificate
	for c := ca; c.Parent != nil; c = c.Parent {
		out = append(out, c.Cert)
	}
	return out
}

// RootPool is a pool holding the root of ca's hierarchy: what a client that
// trusts this lab PKI has in its trust store.
func (ca *CA) RootPool() *x509.CertPool {
	return Pool(ca.Root().Cert)
}

// Pool makes a pool of the given certificates.
func Pool(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

func caTemplate(name string, maxPathLen int) (*x509.Certificate, error) {
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	return &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{Organization}, CommonName: name},
		NotBefore:             now.Add(-caBackdate),
		NotAfter:              now.Add(caLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            maxPathLen,
		MaxPathLenZero:        maxPathLen == 0,
	}, nil
}

func newKey() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: generate key: %w", err)
	}
	return k, nil
}

func newSerial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("pki: serial: %w", err)
	}
	return s, nil
}

func sign(tmpl, parent *x509.Certificate, pub *ecdsa.PublicKey, signer *ecdsa.PrivateKey) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}
