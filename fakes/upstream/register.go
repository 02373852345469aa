package upstream

import (
	"context"
	"flag"

	"github.com/chaoslab/chaoslab/fakes"
)

func init() {
	fakes.Register(fakes.Def{
		Name:    "upstream",
		Summary: "HTTP(S) upstream with latency, status, body and failure modes per path",
		Flags: func(fs *flag.FlagSet) fakes.Starter {
			var c Config
			c.RegisterFlags(fs)
			return func(ctx context.Context) (fakes.Server, error) {
				return Start(ctx, c)
			}
		},
	})
}
