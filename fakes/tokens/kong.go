package tokens

import (
	"crypto/x509"
	"encoding/pem"
)

// KongJWTSecret is the consumer jwt_secrets entry that makes Kong's jwt
// plugin accept this issuer's tokens: the plugin reads iss (key_claim_name
// default) and looks the entry up by key. Field names are kong.yml's.
type KongJWTSecret struct {
	Key          string `json:"key" yaml:"key"`
	Algorithm    string `json:"algorithm" yaml:"algorithm"`
	Secret       string `json:"secret,omitempty" yaml:"secret,omitempty"`                 // HS256
	RSAPublicKey string `json:"rsa_public_key,omitempty" yaml:"rsa_public_key,omitempty"` // RS256, PEM
}

// KongJWTSecret is what to put under a consumer's jwt_secrets.
func (s *Server) KongJWTSecret() KongJWTSecret {
	k := KongJWTSecret{Key: s.key, Algorithm: s.alg}
	if s.alg == AlgHS256 {
		k.Secret = string(s.secret)
	} else {
		k.RSAPublicKey = s.PublicKeyPEM()
	}
	return k
}

// Secret is the HS256 secret ("" for RS256).
func (s *Server) Secret() string { return string(s.secret) }

// PublicKeyPEM is the RS256 public key as a "PUBLIC KEY" (PKIX) PEM block,
// the form Kong's rsa_public_key takes ("" for HS256).
func (s *Server) PublicKeyPEM() string {
	if s.rsaKey == nil {
		return ""
	}
	der, err := x509.MarshalPKIXPublicKey(&s.rsaKey.PublicKey)
	if err != nil {
		return ""
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}
