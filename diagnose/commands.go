package diagnose

import (
	"net"
	"strings"

	"al.essio.dev/pkg/shellescape"
)

// Commands renders the lesson's diagnosis commands with the lab's real
// addresses, ready to paste into a shell.
type Commands struct {
	Proxy      string // proxy host:port or http://host:port; "" for direct
	Target     string // server host:port
	ServerName string // SNI and URL host; Target's host when empty
	Path       string // URL path; "/" when empty
	CAFile     string // trust store for the client (curl --cacert, -CAfile)
	ClientCert string // mTLS client certificate PEM
	ClientKey  string // mTLS client key PEM
}

func (c Commands) serverName() string {
	if c.ServerName != "" {
		return c.ServerName
	}
	host, _, _ := net.SplitHostPort(c.Target)
	return host
}

func (c Commands) proxyHostPort() string {
	p := c.Proxy
	if i := strings.Index(p, "://"); i >= 0 {
		p = p[i+3:]
	}
	return strings.TrimSuffix(p, "/")
}

// URL is the https URL the curl commands fetch.
func (c Commands) URL() string {
	_, port, _ := net.SplitHostPort(c.Target)
	path := c.Path
	if path == "" {
		path = "/"
	}
	return "https://" + net.JoinHostPort(c.serverName(), port) + path
}

func q(s string) string { return shellescape.Quote(s) }

func (c Commands) sClient() []string {
	a := []string{"openssl", "s_client"}
	if c.Proxy != "" {
		a = append(a, "-proxy", q(c.proxyHostPort()))
	}
	a = append(a, "-connect", q(c.Target), "-servername", q(c.serverName()))
	return a
}

func (c Commands) caFileArgs(flag string) []string {
	if c.CAFile == "" {
		return nil
	}
	return []string{flag, q(c.CAFile)}
}

// OpenSSLShowCerts: who signed what the client is shown (through the proxy
// when set). With -verify_return_error and no CAFile trusting the issuer,
// the handshake stops and nothing reaches the second openssl.
func (c Commands) OpenSSLShowCerts() string {
	a := append(c.sClient(), "-showcerts", "-verify_return_error")
	a = append(a, c.caFileArgs("-CAfile")...)
	return strings.Join(a, " ") + " </dev/null | openssl x509 -noout -subject -issuer -enddate"
}

// OpenSSLVerdict: the one-line verify verdict ("Verify return code: ...")
// for a ticket.
func (c Commands) OpenSSLVerdict() string {
	a := append(c.sClient(), "-verify_return_error")
	a = append(a, c.caFileArgs("-CAfile")...)
	return strings.Join(a, " ") + " </dev/null"
}

func (c Commands) curl(extra ...string) []string {
	return append([]string{"curl", "-v"}, c.curlTarget(extra...)...)
}

// curlTarget is the URL, proxy, name pinning, extra args and trust store.
func (c Commands) curlTarget(extra ...string) []string {
	a := []string{q(c.URL())}
	if c.Proxy != "" {
		a = append(a, "--proxy", q("http://"+c.proxyHostPort()))
	}
	// A server name other than the target's host may not resolve on the
	// trainee's machine: pin it to the lab address.
	if host, port, _ := net.SplitHostPort(c.Target); c.serverName() != host && c.serverName() != "localhost" {
		a = append(a, "--connect-to", q(c.serverName()+":"+port+":"+host+":"+port))
	}
	a = append(a, extra...)
	return append(a, c.caFileArgs("--cacert")...)
}

// CurlProxy: curl -v through the proxy, trusting CAFile (the proxy's CA
// makes an inspected connection succeed; the server's makes it fail).
func (c Commands) CurlProxy() string { return strings.Join(c.curl(), " ") }

// CurlMTLS: mTLS through a CONNECT tunnel, presenting ClientCert/ClientKey.
func (c Commands) CurlMTLS() string {
	return strings.Join(c.curl("--cert", q(c.ClientCert), "--key", q(c.ClientKey)), " ")
}

// TimingFormat is curl's -w template for the phase breakdown (big ttfb:
// slow upstream; big tls: handshake; total - ttfb: payload).
const TimingFormat = `{"code":%{http_code},"dns":%{time_namelookup},"tcp":%{time_connect},"tls":%{time_appconnect},"ttfb":%{time_starttransfer},"total":%{time_total}}\n`

// CurlTiming: status and phase timings of one request as JSON.
func (c Commands) CurlTiming() string {
	a := append([]string{"curl", "-s", "-o", "/dev/null", "-w", q(TimingFormat)}, c.curlTarget()...)
	return strings.Join(a, " ")
}
