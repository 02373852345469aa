package imds

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The paths and headers of the EC2 metadata API, as the SDKs use them.
const (
	TokenPath       = "/latest/api/token"
	CredentialsPath = "/latest/meta-data/iam/security-credentials/"
	// TokenHeader carries an IMDSv2 session token on metadata GETs.
	TokenHeader = "X-aws-ec2-metadata-token"
	// TokenTTLHeader asks for a token lifetime on the PUT and is echoed in
	// the answer; aws-sdk-go-v2 fails with "unable to parse API token"
	// without the echo.
	TokenTTLHeader = "X-aws-ec2-metadata-token-ttl-seconds"
	maxTokenTTL    = 21600
)

// Document is the credentials document, fields in EC2's order.
type Document struct {
	Code            string `json:"Code"`
	LastUpdated     string `json:"LastUpdated"`
	Type            string `json:"Type"`
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	Token           string `json:"Token"`
	Expiration      string `json:"Expiration"`
}

// ServeHTTP answers the metadata API and, under /__chaoslab/, the control API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, ControlPrefix) {
		s.control(w, r)
		return
	}
	call := s.arrive(r)
	s.mu.RLock()
	latency, fail := s.latency, s.fail
	s.mu.RUnlock()
	if !s.wait(r.Context(), latency) {
		// The client gave up or the service is closing: no answer at all
		// (returning would let net/http send an empty 200). Status stays 0.
		panic(http.ErrAbortHandler)
	}
	switch fail {
	case Fail500:
		s.plain(w, call, http.StatusInternalServerError, "500 - Internal Server Error\n")
		return
	case FailHang:
		// Hold the request until the client gives up or Close: the SDK's
		// 500 ms response-header timeout is what ends it in practice.
		select {
		case <-r.Context().Done():
		case <-s.done:
		}
		panic(http.ErrAbortHandler)
	}
	if r.URL.Path == TokenPath {
		s.token(w, r, call)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		s.plain(w, call, http.StatusMethodNotAllowed, "405 - Method Not Allowed\n")
		return
	}
	if !s.authorised(r) {
		// Real IMDS: 401 for a missing token when v2 is required, and for an
		// invalid or expired token always. The SDK then fetches a new token.
		s.plain(w, call, http.StatusUnauthorized, "401 - Unauthorized\n")
		return
	}
	switch p := r.URL.Path; {
	case p == "/latest/meta-data/" || p == "/latest/meta-data":
		s.plain(w, call, http.StatusOK, "iam/")
	case p == "/latest/meta-data/iam/":
		s.plain(w, call, http.StatusOK, "security-credentials/")
	case p == CredentialsPath:
		s.plain(w, call, http.StatusOK, s.role)
	case p == CredentialsPath+s.role:
		s.credentials(w, call)
	default:
		// Unknown paths, unknown roles included, are 404 on EC2.
		s.plain(w, call, http.StatusNotFound, "404 - Not Found\n")
	}
}

func (s *Server) token(w http.ResponseWriter, r *http.Request, call *Call) {
	if r.Method != http.MethodPut {
		w.Header().Set("Allow", "PUT")
		s.plain(w, call, http.StatusMethodNotAllowed, "405 - Method Not Allowed\n")
		return
	}
	if r.Header.Get("X-Forwarded-For") != "" {
		// EC2 refuses token requests that went through a proxy.
		s.plain(w, call, http.StatusForbidden, "403 - Forbidden\n")
		return
	}
	raw := r.Header.Get(TokenTTLHeader)
	ttl, err := strconv.Atoi(raw)
	if err != nil || ttl < 1 || ttl > maxTokenTTL {
		s.plain(w, call, http.StatusBadRequest, "400 - Bad Request\n")
		return
	}
	tok := "AQAEA" + randomString(48)
	now := s.now()
	s.mu.Lock()
	for t, exp := range s.tokens { // keep the map small: drop expired tokens
		if !now.Before(exp) {
			delete(s.tokens, t)
		}
	}
	s.tokens[tok] = now.Add(time.Duration(ttl) * time.Second)
	s.mu.Unlock()
	w.Header().Set(TokenTTLHeader, raw)
	s.plain(w, call, http.StatusOK, tok)
}

func (s *Server) authorised(r *http.Request) bool {
	tok := r.Header.Get(TokenHeader)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if tok == "" {
		return !s.v2Only
	}
	exp, ok := s.tokens[tok]
	return ok && s.now().Before(exp)
}

func (s *Server) credentials(w http.ResponseWriter, call *Call) {
	now := s.now().UTC()
	s.mu.Lock()
	ttl := s.ttl
	s.issued++
	s.mu.Unlock()
	// Whole seconds, "Z": what EC2 sends and what botocore's strptime
	// format requires.
	doc := Document{
		Code:            "Success",
		LastUpdated:     now.Format(time.RFC3339),
		Type:            "AWS-HMAC",
		AccessKeyID:     "ASIA" + strings.ToUpper(randomString(16))[:16],
		SecretAccessKey: randomString(40)[:40],
		Token:           "IQoJb3JpZ2luX2VjE" + randomString(300),
		Expiration:      now.Add(ttl).Format(time.RFC3339),
	}
	b, _ := json.MarshalIndent(doc, "", "  ")
	s.plain(w, call, http.StatusOK, string(b))
}

// plain writes a text/plain answer, as EC2 does for every metadata path.
func (s *Server) plain(w http.ResponseWriter, call *Call, status int, body string) {
	s.answered(call, status) // before sending, so whoever got it finds it logged
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Header().Set("Server", "EC2ws")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// randomString is URL-safe base64 of fresh random bytes, at least n
// characters long, so every credential set has new keys.
func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("imds: crypto/rand: %v", err)) // never fails on Linux
	}
	return strings.NewReplacer("-", "A", "_", "B").Replace(base64.RawURLEncoding.EncodeToString(b))
}

func validRole(role string) error {
	if strings.ContainsAny(role, "/ \t\r\n") {
		return fmt.Errorf("--role: must be a role name without '/' or spaces, got %q", role)
	}
	return nil
}
