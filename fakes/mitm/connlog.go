package mitm

import (
	"fmt"
	"strings"
	"time"
)

// Log modes: how a connection or request was handled.
const (
	LogInspect = "inspect" // CONNECT, TLS terminated and re-signed
	LogTunnel  = "tunnel"  // CONNECT relayed untouched (Tunnel mode or bypass)
	LogHTTP    = "http"    // plain http:// request proxied
)

// ConnLog is one entry of the proxy's connection log: one per CONNECT and
// one per plain-HTTP request.
type ConnLog struct {
	Time   time.Time
	ID     int64  // connection number, from 1
	Client string // client address
	Host   string // CONNECT target or http:// URL host, host:port
	SNI    string // server name the client asked for (inspect only)
	Mode   string // LogInspect, LogTunnel or LogHTTP
	// Bypassed is true when Mode is LogTunnel only because the host is on
	// the bypass list.
	Bypassed bool
	// PresentedIssuer is the issuer of the certificate the proxy showed the
	// client: its own CA when inspecting, "" when tunnelling (the client saw
	// the server's own chain).
	PresentedIssuer string
	// UpstreamIssuer is the issuer of the certificate the real server
	// presented to the proxy (inspect only).
	UpstreamIssuer string
	// UpstreamVerify is "ok" or the proxy's error verifying the server (or
	// reaching it); "" when the proxy never looked (tunnel).
	UpstreamVerify string
	// ClientHandshake is "ok" or why the client's TLS handshake with the
	// proxy failed, typically the client rejecting the proxy's CA
	// ("remote error: tls: unknown certificate authority"); inspect only.
	ClientHandshake string
	// Requests is how many requests the proxy relayed on an inspected
	// connection so far.
	Requests int
	// UpstreamError is the first error relaying a request after the
	// handshakes, e.g. a TLS 1.3 server rejecting the missing client
	// certificate ("remote error: tls: certificate required").
	UpstreamError string
	// Status is the HTTP status answered to a plain request (http only).
	Status int
}

// String renders the entry as one logfmt-style line.
func (l ConnLog) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "mitm conn=%d client=%s host=%s mode=%s", l.ID, l.Client, l.Host, l.Mode)
	kv := func(k, v string) {
		if v == "" {
			return
		}
		if strings.ContainsAny(v, " =\"") {
			v = fmt.Sprintf("%q", v)
		}
		fmt.Fprintf(&b, " %s=%s", k, v)
	}
	if l.Bypassed {
		b.WriteString(" bypass=true")
	}
	kv("sni", l.SNI)
	kv("presented_issuer", l.PresentedIssuer)
	kv("upstream_issuer", l.UpstreamIssuer)
	kv("upstream_verify", l.UpstreamVerify)
	kv("client_handshake", l.ClientHandshake)
	kv("upstream_error", l.UpstreamError)
	if l.Status != 0 {
		fmt.Fprintf(&b, " status=%d", l.Status)
	}
	return b.String()
}
