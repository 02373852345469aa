package upstream

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Credential is a header the upstream itself insists on (an API that checks
// the caller's key or token again behind the gateway). A request without it,
// or with another value, gets the upstream's own 401, which must not be
// mistaken for the gateway's.
type Credential struct {
	Header string // e.g. apikey or Authorization
	Value  string // the one value accepted
}

// parseCredential reads NAME=VALUE (the --require-header flag).
func parseCredential(v string) (*Credential, error) {
	name, val, ok := strings.Cut(v, "=")
	name = strings.TrimSpace(name)
	if !ok || name == "" || val == "" || strings.ContainsAny(name, " \t:") {
		return nil, fmt.Errorf("--require-header: want NAME=VALUE (a header name and the value the upstream accepts), got %q", v)
	}
	return &Credential{Header: name, Value: val}, nil
}

func (c *Credential) String() string { return c.Header + "=" + c.Value }

// UpstreamUnauthorized is the error the upstream's 401 body carries:
// scenarios and trainees grep for it to tell it from Kong's 401 bodies.
const UpstreamUnauthorized = "upstream rejected the request: missing or invalid credential"

// refuse answers the upstream's own 401 when the credential is missing or
// wrong, and reports whether it did.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request) bool {
	c := s.cred
	if c == nil {
		return false
	}
	got := r.Header.Values(c.Header)
	if len(got) == 1 && got[0] == c.Value {
		return false
	}
	detail := "no " + c.Header + " header"
	if len(got) > 0 {
		detail = "wrong " + c.Header + " header"
	}
	s.count(r.URL.Path, "401")
	body, _ := json.Marshal(map[string]string{"upstream": s.name, "error": UpstreamUnauthorized, "detail": detail})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Upstream-Name", s.name)
	h.Set("WWW-Authenticate", `ApiKey realm="`+s.name+`"`)
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write(append(body, '\n'))
	return true
}
