package mitm

import (
	"crypto/tls"
	"slices"
	"strings"
	"sync"

	"github.com/chaoslab/chaoslab/fakes/pki"
)

// certCache mints one leaf per host and reuses it, as inspecting proxies
// do: a trainee comparing two connections sees the same forged leaf.
type certCache struct {
	ca *pki.CA
	mu sync.Mutex
	m  map[string]*tls.Certificate
}

func newCertCache(ca *pki.CA) *certCache {
	return &certCache{ca: ca, m: map[string]*tls.Certificate{}}
}

// get returns the leaf for the names (SNI first, then the CONNECT host).
func (c *certCache) get(names ...string) (*tls.Certificate, error) {
	var sans []string
	for _, n := range names {
		n = strings.ToLower(n)
		if n != "" && !slices.Contains(sans, n) {
			sans = append(sans, n)
		}
	}
	key := strings.Join(sans, ",")
	c.mu.Lock()
	defer c.mu.Unlock()
	if cert, ok := c.m[key]; ok {
		return cert, nil
	}
	leaf, err := c.ca.Leaf(pki.LeafOptions{SANs: sans})
	if err != nil {
		return nil, err
	}
	cert := leaf.TLSCertificate(pki.ChainFull)
	c.m[key] = &cert
	return &cert, nil
}

// Minted is how many distinct leaves the proxy has minted so far.
func (p *Proxy) Minted() int {
	p.certs.mu.Lock()
	defer p.certs.mu.Unlock()
	return len(p.certs.m)
}
