package mitm

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
)

// Mode is what the proxy does with a CONNECT.
type Mode string

const (
	// Inspect terminates the client's TLS with a leaf minted for the host
	// and signed by the proxy's own root, then opens its own verified TLS
	// connection to the server: a corporate TLS-inspecting proxy.
	Inspect Mode = "inspect"
	// Tunnel relays the bytes untouched: the client talks TLS end to end.
	Tunnel Mode = "tunnel"
)

// Config is the proxy's start-up configuration.
type Config struct {
	Listen string // default 127.0.0.1:0
	Mode   Mode   // default Inspect
	// Bypass lists hosts tunnelled even in Inspect mode: "host", "host:port"
	// or "*.domain" / ".domain" for a domain and its subdomains.
	Bypass []string
	// UpstreamRoots verify the real servers in Inspect mode; with
	// UpstreamCAFile the two are merged; neither means the system roots.
	UpstreamRoots  *x509.CertPool
	UpstreamCAFile string
	// ClientCert is presented to servers that ask for one (two-hop mTLS).
	// ClientCertFile/ClientKeyFile load it from PEM files instead (CLI).
	ClientCert     *tls.Certificate
	ClientCertFile string
	ClientKeyFile  string
	// Dir receives the proxy root CA PEM (mitm-ca.pem). When empty a
	// temporary directory is made and removed on Close.
	Dir string
	// LogWriter, when set, gets each connection log entry as a text line.
	LogWriter io.Writer
	// AllowNonLoopback lets the proxy connect to servers off loopback. Off,
	// a CONNECT or request for any other address is answered 502 with
	// Proxy-Status error=destination_ip_prohibited, before any packet (and
	// before any DNS query for a foreign name) leaves the machine.
	AllowNonLoopback bool
}

func (c Config) withDefaults() Config {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:0"
	}
	if c.Mode == "" {
		c.Mode = Inspect
	}
	return c
}

// Validate returns a one-line error naming the bad flag.
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.Mode != Inspect && c.Mode != Tunnel {
		return fmt.Errorf("--mode: want inspect or tunnel, got %q", c.Mode)
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("--listen: want host:port, got %q", c.Listen)
	}
	for _, b := range c.Bypass {
		if b == "" || strings.ContainsAny(b, " /") {
			return fmt.Errorf("--bypass: %q is not a host, host:port or *.domain", b)
		}
	}
	if (c.ClientCertFile == "") != (c.ClientKeyFile == "") {
		return errors.New("--client-cert: --client-cert and --client-key go together")
	}
	if c.ClientCert != nil && c.ClientCertFile != "" {
		return errors.New("--client-cert: give a certificate or its files, not both")
	}
	return nil
}

// Args renders c back to the flags of `chaoslab fake mitm`. The in-memory
// UpstreamRoots and ClientCert have no flag form: use the file fields.
func (c Config) Args() []string {
	c = c.withDefaults()
	a := []string{"--listen", c.Listen, "--mode", string(c.Mode)}
	if len(c.Bypass) > 0 {
		a = append(a, "--bypass", strings.Join(c.Bypass, ","))
	}
	if c.UpstreamCAFile != "" {
		a = append(a, "--upstream-ca", c.UpstreamCAFile)
	}
	if c.ClientCertFile != "" {
		a = append(a, "--client-cert", c.ClientCertFile, "--client-key", c.ClientKeyFile)
	}
	if c.Dir != "" {
		a = append(a, "--dir", c.Dir)
	}
	if c.AllowNonLoopback {
		a = append(a, "--allow-non-loopback")
	}
	return a
}

// bypassed says whether target (host:port) is on the bypass list.
func (c Config) bypassed(target string) bool {
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		host = target
	}
	host = strings.ToLower(host)
	for _, b := range c.Bypass {
		b = strings.ToLower(b)
		switch {
		case b == host || b == strings.ToLower(target):
			return true
		case strings.HasPrefix(b, "*.") && (host == b[2:] || strings.HasSuffix(host, b[1:])):
			return true
		case strings.HasPrefix(b, ".") && (host == b[1:] || strings.HasSuffix(host, b)):
			return true
		}
	}
	return false
}
