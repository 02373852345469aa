package diagnose

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"strings"
)

// opensslTime is how OpenSSL prints certificate dates.
const opensslTime = "Jan _2 15:04:05 2006 GMT"

// String renders the report the way s_client -showcerts lays it out, with
// Go's own verdict underneath, for a trainee to read next to the real
// command's output.
func (r *ChainReport) String() string {
	var b strings.Builder
	via := "directly"
	if r.Proxy != "" {
		via = "via proxy " + r.Proxy
	}
	fmt.Fprintf(&b, "CONNECTED to %s %s (servername %s)", r.Target, via, r.ServerName)
	if r.TLSVersion != "" {
		fmt.Fprintf(&b, ", %s", r.TLSVersion)
	}
	b.WriteString("\n---\nCertificate chain\n")
	for i, c := range r.Certs {
		fmt.Fprintf(&b, "%2d s:%s\n", i, OpenSSLName(c.Cert.Subject))
		fmt.Fprintf(&b, "   i:%s\n", OpenSSLName(c.Cert.Issuer))
		fmt.Fprintf(&b, "   v:NotBefore: %s; NotAfter: %s\n",
			c.NotBefore.UTC().Format(opensslTime), c.NotAfter.UTC().Format(opensslTime))
		if san := sanString(c.Cert); san != "" {
			fmt.Fprintf(&b, "   SAN: %s\n", san)
		}
	}
	b.WriteString("---\n")
	fmt.Fprintf(&b, "Verify return code: %d (%s)\n", r.VerifyCode, r.VerifyText)
	if r.VerifyErr != nil {
		fmt.Fprintf(&b, "Go client: %v [%s]\n", r.VerifyErr, r.GoKind)
	} else {
		b.WriteString("Go client: ok\n")
	}
	if r.HandshakeErr != nil {
		fmt.Fprintf(&b, "Handshake: %v\n", r.HandshakeErr)
	}
	return b.String()
}

func sanString(c *x509.Certificate) string {
	var parts []string
	for _, n := range c.DNSNames {
		parts = append(parts, "DNS:"+n)
	}
	for _, ip := range c.IPAddresses {
		parts = append(parts, "IP Address:"+ip.String())
	}
	return strings.Join(parts, ", ")
}

var attrNames = map[string]string{
	"2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.9": "street",
	"2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.5": "serialNumber", "2.5.4.17": "postalCode",
	"1.2.840.113549.1.9.1": "emailAddress", "0.9.2342.19200300.100.1.25": "DC",
}

// OpenSSLName prints a distinguished name the way OpenSSL 3 does by default
// ("O = chaoslab, CN = localhost": attributes in certificate order), so it
// can be compared with `openssl x509 -noout -subject -issuer` output.
func OpenSSLName(n pkix.Name) string {
	var parts []string
	for _, atv := range n.Names {
		key, ok := attrNames[atv.Type.String()]
		if !ok {
			key = atv.Type.String()
		}
		val := fmt.Sprint(atv.Value)
		if strings.ContainsAny(val, ",+;<>\"\\=") {
			val = `"` + strings.ReplaceAll(val, `"`, `\"`) + `"`
		}
		parts = append(parts, key+" = "+val)
	}
	return strings.Join(parts, ", ")
}

// Comparison is the lesson's diagnosis: the leaf's issuer seen directly
// versus through the proxy.
type Comparison struct {
	DirectIssuer   string
	ViaProxyIssuer string
	IssuerDiffers  bool
}

// Compare says whether the proxy changes who signed the server's
// certificate, which is what a TLS-inspecting proxy does.
func Compare(direct, viaProxy *ChainReport) Comparison {
	c := Comparison{DirectIssuer: direct.Issuer(), ViaProxyIssuer: viaProxy.Issuer()}
	c.IssuerDiffers = c.DirectIssuer != c.ViaProxyIssuer
	return c
}

func (c Comparison) String() string {
	if c.IssuerDiffers {
		return fmt.Sprintf("issuer differs: directly %q, via proxy %q: the proxy inspects TLS and re-signs "+
			"the server's certificate with its own CA; trust that CA or have the proxy bypass this host",
			c.DirectIssuer, c.ViaProxyIssuer)
	}
	return fmt.Sprintf("same issuer directly and via proxy (%q): the proxy does not inspect this host", c.DirectIssuer)
}
