package tokens

import (
	"github.com/chaoslab/chaoslab/fakes"
)

// Fake names the fake Config configures (fakes.Config).
func (Config) Fake() string { return "tokens" }

func init() {
	fakes.RegisterConfig("OAuth2 client_credentials token issuer (JWT HS256/RS256, iss = Kong jwt key), discovery and JWKS", Start)
}
