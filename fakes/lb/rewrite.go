package lb

import (
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
)

// rewrite turns the client's request into the backend's, as the policy the
// request started with says.
func (s *Server) rewrite(pr *httputil.ProxyRequest) {
	p, _ := pr.In.Context().Value(policyKey{}).(*Policy)
	if p == nil {
		p = s.policy.Load()
	}
	pr.SetURL(s.backend)
	// A real LB passes the client's Host through unless told otherwise;
	// Kong routes on it.
	pr.Out.Host = pr.In.Host
	if p.Host != "" {
		pr.Out.Host = p.Host
	}
	// Forwarded and X-Forwarded-Host are not this hop's business: the proxy
	// removed them, put back what the client sent.
	copyHeader(pr.Out.Header, pr.In.Header, "Forwarded")
	copyHeader(pr.Out.Header, pr.In.Header, "X-Forwarded-Host")

	switch p.XFF {
	case XFFNone:
		copyHeader(pr.Out.Header, pr.In.Header, "X-Forwarded-For")
	case XFFOverwrite:
		if ip := clientIP(pr.In); ip != "" {
			pr.Out.Header.Set("X-Forwarded-For", ip)
		}
	default: // append
		chain := pr.In.Header.Values("X-Forwarded-For")
		if ip := clientIP(pr.In); ip != "" {
			chain = append(chain, ip)
		}
		if len(chain) > 0 {
			pr.Out.Header.Set("X-Forwarded-For", strings.Join(chain, ", "))
		}
	}

	switch p.XFP {
	case XFPHTTP, XFPHTTPS:
		pr.Out.Header.Set("X-Forwarded-Proto", p.XFP)
	default:
		copyHeader(pr.Out.Header, pr.In.Header, "X-Forwarded-Proto")
	}

	if p.StripAuthorization {
		pr.Out.Header.Del("Authorization")
	}
	stripHeaders(pr.Out.Header, p.StripHeaders) // flags_more.go
}

func copyHeader(dst, src http.Header, name string) {
	if v := src.Values(name); len(v) > 0 {
		dst[http.CanonicalHeaderKey(name)] = append([]string(nil), v...)
	}
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return ""
	}
	return host
}
