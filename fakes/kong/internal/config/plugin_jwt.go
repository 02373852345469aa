package config

import (
	"github.com/golang-jwt/jwt/v5"
)

// JWTConfig is the jwt plugin's config (Kong 3.9 defaults).
type JWTConfig struct {
	URIParamNames     []string `json:"uri_param_names"`
	CookieNames       []string `json:"cookie_names"`
	HeaderNames       []string `json:"header_names"`
	KeyClaimName      string   `json:"key_claim_name"`
	SecretIsBase64    bool     `json:"secret_is_base64"`
	ClaimsToVerify    []string `json:"claims_to_verify"`
	Anonymous         string   `json:"anonymous"`
	RunOnPreflight    bool     `json:"run_on_preflight"`
	MaximumExpiration int      `json:"maximum_expiration"`
	Realm             string   `json:"realm"`
}

func parseJWT(o *obj) any {
	c := &JWTConfig{
		URIParamNames:     o.strings("uri_param_names", "a set", []string{"jwt"}),
		CookieNames:       o.strings("cookie_names", "a set", []string{}),
		HeaderNames:       o.strings("header_names", "a set", []string{"authorization"}),
		KeyClaimName:      o.str("key_claim_name", "iss"),
		SecretIsBase64:    o.boolean("secret_is_base64", false),
		ClaimsToVerify:    o.strings("claims_to_verify", "a set", nil),
		Anonymous:         o.str("anonymous", ""),
		RunOnPreflight:    o.boolean("run_on_preflight", true),
		MaximumExpiration: o.integer("maximum_expiration", 0, 0, 31536000),
		Realm:             o.str("realm", ""),
	}
	for i, cl := range c.ClaimsToVerify {
		if cl != "exp" && cl != "nbf" {
			o.failAt(extend(o.path, "claims_to_verify", i), o.vals["claims_to_verify"], "expected one of: exp, nbf")
		}
	}
	if c.MaximumExpiration > 0 && !contains(c.ClaimsToVerify, "exp") {
		o.w.entityError(o.ent, "failed conditional validation given value of field 'config.maximum_expiration'", o.line())
	}
	return c
}

// parsePublicKey reads a PEM public key for RS*, PS* or ES* secrets.
func parsePublicKey(pemText string) (any, error) {
	if k, err := jwt.ParseRSAPublicKeyFromPEM([]byte(pemText)); err == nil {
		return k, nil
	}
	return jwt.ParseECPublicKeyFromPEM([]byte(pemText))
}

func init() { registerPlugin("jwt", 1450, parseJWT) }
