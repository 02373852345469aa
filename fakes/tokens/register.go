package tokens

import (
	"context"
	"flag"

	"github.com/chaoslab/chaoslab/fakes"
)

func init() {
	fakes.Register(fakes.Def{
		Name:    "tokens",
		Summary: "OAuth2 client_credentials token issuer (JWT HS256/RS256, iss = Kong jwt key), discovery and JWKS",
		Flags: func(fs *flag.FlagSet) fakes.Starter {
			var c Config
			c.RegisterFlags(fs)
			return func(ctx context.Context) (fakes.Server, error) {
				return Start(ctx, c)
			}
		},
	})
}
