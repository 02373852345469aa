package tokens

import (
	"crypto/rsa"
	"fmt"
	"sort"
	"time"
)

// Signing algorithms the issuer offers; both are ones Kong's jwt plugin
// verifies (a consumer's jwt_secrets entry names the same algorithm).
const (
	AlgHS256 = "HS256"
	AlgRS256 = "RS256"
)

// Defaults for a zero Config.
const (
	DefaultKey          = "chaoslab-tokens" // the iss claim, Kong's jwt_secrets key
	DefaultLifetime     = time.Hour
	DefaultClientID     = "lab-client"
	DefaultClientSecret = "lab-secret"
)

// Config is the issuer's start-up configuration.
type Config struct {
	Listen string // default 127.0.0.1:0
	// Issuer is the discovery document's "issuer" (default: the server's
	// URL). It is not the iss claim: Kong looks credentials up by iss, so
	// that is Key, which a kong.yml must know before the issuer starts.
	Issuer string
	// Key is the iss claim of every token and the key of the Kong
	// jwt_secrets entry that verifies them. Default: Issuer when set, else
	// DefaultKey.
	Key string
	Alg string // HS256 (default) or RS256
	// Secret signs HS256 tokens, byte for byte as Kong's jwt_secrets
	// "secret" (secret_is_base64 false). Default: 32 random bytes, hex.
	Secret string
	// Lifetime is exp - iat. A negative lifetime issues tokens that are
	// already expired. Default DefaultLifetime; changeable at run time.
	Lifetime time.Duration
	// Clients are the client_credentials clients, id -> secret. Default:
	// DefaultClientID -> DefaultClientSecret.
	Clients map[string]string

	// Not flags (in-process only):
	RSAKey *rsa.PrivateKey  // RS256 signing key; default a fresh 2048-bit key
	Now    func() time.Time // the issuer's clock; default time.Now
}

func (c Config) validate() error {
	switch c.Alg {
	case "", AlgHS256:
		if c.RSAKey != nil {
			return fmt.Errorf("RSAKey: only with --alg RS256")
		}
	case AlgRS256:
		if c.Secret != "" {
			return fmt.Errorf("--secret: only with --alg HS256 (RS256 signs with a generated RSA key)")
		}
	default:
		return fmt.Errorf("--alg: must be HS256 or RS256, got %q", c.Alg)
	}
	for _, id := range sortedIDs(c.Clients) {
		if id == "" {
			return fmt.Errorf("--client: empty client id")
		}
		if c.Clients[id] == "" {
			return fmt.Errorf("--client: client %q has an empty secret", id)
		}
	}
	return nil
}

func sortedIDs(m map[string]string) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}
