package pki

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// Files writes PEM files into one directory the caller gives and remembers
// them, so the lab can remove exactly what it wrote when it closes.
type Files struct {
	dir        string
	createdDir bool

	mu      sync.Mutex
	written []string
}

// LeafPaths are the files WriteLeaf writes for one leaf.
type LeafPaths struct {
	Cert      string // <name>.crt: the leaf alone (the leaf-only bundle)
	Key       string // <name>.key: private key, mode 0600
	FullChain string // <name>-fullchain.pem: leaf + intermediates
}

// NewFiles writes into dir, creating it (mode 0700) when missing; Remove
// then deletes the directory too, once it is empty.
func NewFiles(dir string) (*Files, error) {
	if dir == "" {
		return nil, errors.New("pki: no directory given for certificate files")
	}
	f := &Files{dir: dir}
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("pki: %w", err)
		}
		f.createdDir = true
	}
	return f, nil
}

// Dir is the directory the files are written to.
func (f *Files) Dir() string { return f.dir }

// Path is where a file called name sits in Dir (written or not).
func (f *Files) Path(name string) string { return filepath.Join(f.dir, name) }

// Written lists the paths written so far, in order.
func (f *Files) Written() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.written...)
}

// WriteCerts writes certificates as one PEM bundle, in the order given
// (mode 0644: certificates are public).
func (f *Files) WriteCerts(name string, certs ...*x509.Certificate) (string, error) {
	var buf []byte
	for _, c := range certs {
		buf = append(buf, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return f.write(name, buf, 0o644)
}

// WriteKey writes a private key as PKCS#8 PEM, mode 0600.
func (f *Files) WriteKey(name string, key *ecdsa.PrivateKey) (string, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", fmt.Errorf("pki: marshal key: %w", err)
	}
	return f.write(name, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

// WriteCA writes a CA certificate alone, for example the root clients trust.
func (f *Files) WriteCA(name string, ca *CA) (string, error) {
	return f.WriteCerts(name, ca.Cert)
}

// WriteLeaf writes <name>.crt, <name>.key and <name>-fullchain.pem.
func (f *Files) WriteLeaf(name string, l *Leaf) (LeafPaths, error) {
	var p LeafPaths
	var err error
	if p.Cert, err = f.WriteCerts(name+".crt", l.Cert); err != nil {
		return p, err
	}
	if p.Key, err = f.WriteKey(name+".key", l.Key); err != nil {
		return p, err
	}
	p.FullChain, err = f.WriteCerts(name+"-fullchain.pem", append([]*x509.Certificate{l.Cert}, l.Chain...)...)
	return p, err
}

func (f *Files) write(name string, data []byte, mode os.FileMode) (string, error) {
	if name == "" || filepath.Base(name) != name {
		return "", fmt.Errorf("pki: file name %q must be a plain name inside %s", name, f.dir)
	}
	path := filepath.Join(f.dir, name)
	// Remove first so a stale file with looser permissions cannot keep them
	// (WriteFile keeps the mode of an existing file).
	_ = os.Remove(path)
	if err := os.WriteFile(path, data, mode); err != nil {
		return "", fmt.Errorf("pki: %w", err)
	}
	f.mu.Lock()
	f.written = append(f.written, path)
	f.mu.Unlock()
	return path, nil
}

// Remove deletes every file written, and the directory if NewFiles made it
// and it is now empty. Safe to call more than once.
func (f *Files) Remove() error {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	paths := f.written
	f.written = nil
	f.mu.Unlock()
	var errs []error
	for _, p := range paths {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if f.createdDir {
		// Fails harmlessly when someone else put files there.
		_ = os.Remove(f.dir)
	}
	return errors.Join(errs...)
}

// LoadPool reads a PEM bundle of trusted certificates (a --cacert file).
func LoadPool(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s: no PEM certificate found", path)
	}
	return p, nil
}
