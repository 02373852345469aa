package tokens

import (
	"github.com/chaoslab/chaoslab/fakes/control"

	"crypto/sha256"
	"encoding/base64"
	"math/big"
	"net/http"
)

// JWK is one RFC 7517 public key.
type JWK struct {
	Kty string `json:"kty"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// JWKS is the document at /jwks.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// JWKS is the public key set: the RS256 key, or none for HS256 (a shared
// secret is never published).
func (s *Server) JWKS() JWKS {
	if s.rsaKey == nil {
		return JWKS{Keys: []JWK{}}
	}
	pub := s.rsaKey.PublicKey
	b64 := base64.RawURLEncoding.EncodeToString
	return JWKS{Keys: []JWK{{Kty: "RSA", Use: "sig", Alg: AlgRS256, Kid: s.kid(),
		N: b64(pub.N.Bytes()), E: b64(big.NewInt(int64(pub.E)).Bytes())}}}
}

// kid names the RSA key by a hash of its modulus, so a rotated key gets a
// new kid.
func (s *Server) kid() string {
	sum := sha256.Sum256(s.rsaKey.PublicKey.N.Bytes())
	return base64.RawURLEncoding.EncodeToString(sum[:8])
}

func (s *Server) jwks(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	control.WriteJSON(w, http.StatusOK, s.JWKS())
}

// discovery answers the OpenID Provider metadata. Endpoints are built from
// the request's Host so they hold behind a container's port mapping.
func (s *Server) discovery(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	base := "http://" + r.Host
	control.WriteJSON(w, http.StatusOK, map[string]any{
		"issuer":                                s.issuer,
		"token_endpoint":                        base + TokenPath,
		"jwks_uri":                              base + JWKSPath,
		"grant_types_supported":                 []string{"client_credentials"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"response_types_supported":              []string{"token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{s.alg},
	})
}
