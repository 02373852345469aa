package scenarios

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/chaoslab/chaoslab/assertions"
	"github.com/chaoslab/chaoslab/diagnose"
	"github.com/chaoslab/chaoslab/fakes/mitm"
	"github.com/chaoslab/chaoslab/fakes/pki"
	"github.com/chaoslab/chaoslab/fakes/upstream"
	"github.com/chaoslab/chaoslab/lab"
	"github.com/chaoslab/chaoslab/load"
)

// TLS family timing: every request of these loads may pay a handshake, and a
// share is judged on about a hundred of them (>= 95% tolerates five odd ones).
const (
	tlsLoad = time.Second
	tlsRate = 100.0
)

func tlsPacer() load.Pacer { return load.Constant(tlsRate) }

// tlsCommandName is the server name the lesson commands use: curl and openssl
// send it as SNI and check it against the certificate (the lab's leaves carry
// localhost and 127.0.0.1). Go clients dial 127.0.0.1 directly.
const tlsCommandName = "localhost"

// startTLSUpstream starts an HTTPS fake upstream (its own fresh root ->
// intermediate -> leaf hierarchy, as flags say) behind a fault proxy.
func startTLSUpstream(s *S, name string, flags pki.ServerTLSFlags) *lab.Upstream {
	flags.Enabled = true
	up, err := s.Lab.Upstream(s.Ctx, name, upstream.Config{TLSFlags: flags})
	s.Must(err, "starting TLS upstream "+name)
	if up.CAPath() == "" {
		s.Failf("upstream %s reported no ca at start-up", name)
	}
	return up
}

// tlsProxy is a running mitm fake; its connection log is its stderr.
type tlsProxy = lab.MITM

// startMITM starts the TLS-inspecting proxy fake with its CA file in the
// lab's directory, so it goes when the lab goes.
func startMITM(s *S, name string, cfg mitm.Config) *tlsProxy {
	p, err := s.Lab.MITM(s.Ctx, name, cfg)
	s.Must(err, "starting proxy "+name)
	return p
}

// logMITM attaches the proxy's connection log lines written since line
// since (a line per CONNECT, and one per later finding such as an upstream
// error) to the current phase and returns them. A proxy
// that handled traffic and printed nothing would leave the scenario blaming
// a fault nobody saw, so that is a failure.
func logMITM(s *S, name string, p *tlsProxy, since int) []string {
	lines := p.Stderr()
	if len(lines) <= since {
		s.failAt(fmt.Sprintf("proxy %s printed no connection log for this phase's traffic; %s", name, noLogHint), 1)
	}
	lines = lines[since:]
	s.Log(name+" connection log", lines)
	return lines
}

// noLogHint says where a missing connection log is lost: the lab reads a
// fake's stderr from what the fake writes to fakes.Stderr(ctx).
const noLogHint = "the lab reads it from the fake's stderr (Service.Stderr), which the mitm fake must write to " +
	"fakes.Stderr(ctx) rather than os.Stderr"

// awaitConnections waits until the proxy has logged at least n connections
// since line since. A client that rejects the proxy's certificate has its
// error before the proxy has finished logging the aborted handshake, so a
// phase that counts those lines, or the next phase's, must wait for them.
func awaitConnections(s *S, name string, p *tlsProxy, since, n int) {
	s.Eventually(fmt.Sprintf("proxy %s logging %d connections", name, n), 5*time.Second, 10*time.Millisecond, func() error {
		got := 0
		for _, l := range tlsLinesAfter(p.Stderr(), since) {
			if strings.Contains(l, " mode=") { // the first line of a connection; later ones amend it
				got++
			}
		}
		if got < n {
			if len(p.Stderr()) == 0 {
				return errors.New("0 logged; " + noLogHint)
			}
			return fmt.Errorf("%d logged", got)
		}
		return nil
	})
}

func tlsLinesAfter(lines []string, n int) []string {
	if n >= len(lines) {
		return nil
	}
	return lines[n:]
}

// trustPool loads trust stores (curl --cacert files) into one pool.
func trustPool(s *S, paths ...string) *x509.CertPool {
	p := x509.NewCertPool()
	for _, path := range paths {
		data, err := os.ReadFile(path)
		s.Must(err, "reading trust store "+path)
		if !p.AppendCertsFromPEM(data) {
			s.Failf("trust store %s holds no PEM certificate", path)
		}
	}
	return p
}

// parsePEMCerts reads every certificate of a PEM bundle.
func parsePEMCerts(s *S, path string) []*x509.Certificate {
	data, err := os.ReadFile(path)
	s.Must(err, "reading "+path)
	var out []*x509.Certificate
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			return out
		}
		if b.Type == "CERTIFICATE" {
			c, err := x509.ParseCertificate(b.Bytes)
			s.Must(err, "parsing a certificate in "+path)
			out = append(out, c)
		}
	}
}

// upstreamClientCert loads the mTLS client certificate a --client-auth
// upstream reported at start-up (client-cert / client-key).
func upstreamClientCert(s *S, crt, key string) tls.Certificate {
	if crt == "" || key == "" {
		s.Failf("upstream reported no client-cert/client-key at start-up")
	}
	c, err := tls.LoadX509KeyPair(crt, key)
	s.Must(err, "loading the client certificate")
	return c
}

// urlHostPort is the host:port of an http(s) URL.
func urlHostPort(s *S, raw string) string {
	u, err := url.Parse(raw)
	s.Must(err, "parsing "+raw)
	return u.Host
}

// showCerts is what `openssl s_client [-proxy] -showcerts` shows, computed in Go
// (diagnose.Chain), attached to the current phase as a log.
func showCerts(s *S, title, target, serverName string, proxy *tlsProxy, roots *x509.CertPool) *diagnose.ChainReport {
	ctx, cancel := context.WithTimeout(s.Ctx, 5*time.Second)
	defer cancel()
	proxyURL := ""
	if proxy != nil {
		proxyURL = proxy.ProxyURL.String()
	}
	rep, err := diagnose.Chain(ctx, target, serverName, proxyURL, roots)
	s.Must(err, "diagnosing the chain: "+title)
	s.Log(title, strings.Split(strings.TrimRight(rep.String(), "\n"), "\n"))
	return rep
}

// goTLSRequest is one request by a plain Go client (net/http, crypto/tls)
// on a fresh connection, returning the error exactly as the client gets it,
// for errors.As on the typed x509 errors.
func goTLSRequest(s *S, rawURL string, proxy *tlsProxy, cfg *tls.Config) error {
	tr := &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}
	if proxy != nil {
		tr.Proxy = http.ProxyURL(proxy.ProxyURL)
	}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(s.Ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	s.Must(err, "building a request")
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// expectGoError makes one Go request that must fail with an error of type T
// somewhere in its chain (errors.As) for which ok holds, asserts it and
// records it as a measurement (1 = the typed error was found).
func expectGoError[T error](s *S, what, rawURL string, proxy *tlsProxy, cfg *tls.Config, detail string, ok func(T) bool) T {
	err := goTLSRequest(s, rawURL, proxy, cfg)
	var target T
	typ := reflect.TypeFor[T]().String()
	found := err != nil && errors.As(err, &target) && (ok == nil || ok(target))
	text := "no error"
	if err != nil {
		text = err.Error()
	}
	s.Measure("Go client error is "+typ+detail, tlsBool(found), "bool", text)
	s.Expect(err, what).To(assertions.Check(
		fmt.Sprintf("errors.As(err, *%s)%s", typ, detail),
		func(a any) string { return describeErrorChain(a) },
		func(any) bool { return found }))
	return target
}

func tlsBool(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// describeErrorChain names every type in an error's chain, outermost first, then
// its text: what errors.As walks through.
func describeErrorChain(a any) string {
	err, _ := a.(error)
	if err == nil {
		return "no error (the request succeeded)"
	}
	var kinds []string
	for e := err; e != nil && len(kinds) < 8; {
		kinds = append(kinds, fmt.Sprintf("%T", e))
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			e = u.Unwrap()
		case interface{ Unwrap() []error }:
			if us := u.Unwrap(); len(us) > 0 {
				e = us[0]
			} else {
				e = nil
			}
		default:
			e = nil
		}
	}
	return fmt.Sprintf("%s: %v", strings.Join(kinds, " > "), err)
}

func tlsPhaseOf(p load.Phases) time.Duration   { return p.TLS }
func totalPhaseOf(p load.Phases) time.Duration { return p.Total }
