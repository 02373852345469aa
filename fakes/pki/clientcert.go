package pki

import (
	"crypto/x509"
	"net/http"
)

// Client certificate verdicts, the analogue of nginx's $ssl_client_verify
// (NONE, FAILED:reason, SUCCESS) that the incident's server logged as
// ClientMTLSAuth.
const (
	ClientCertAbsent  = "absent"
	ClientCertFailed  = "failed"
	ClientCertSuccess = "success"
)

// ClientCertStatus says whether the request came with a client certificate
// and whether it chains to trusted for client authentication. issuer is the
// presented certificate's issuer ("" when absent): behind a TLS-inspecting
// proxy it is the proxy's CA, which is how the lab shows the server saw
// the proxy rather than the client.
func ClientCertStatus(r *http.Request, trusted *x509.CertPool) (status string, issuer string) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return ClientCertAbsent, ""
	}
	leaf := r.TLS.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, c := range r.TLS.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	if trusted == nil {
		// No trust store means nothing can succeed; never fall back to the
		// system roots for client authentication.
		return ClientCertFailed, leaf.Issuer.String()
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:         trusted,
		Intermediates: inter,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return ClientCertFailed, leaf.Issuer.String()
	}
	return ClientCertSuccess, leaf.Issuer.String()
}
