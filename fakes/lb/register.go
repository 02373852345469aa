package lb

import (
	"context"
	"flag"

	"github.com/chaoslab/chaoslab/fakes"
)

func init() {
	fakes.Register(fakes.Def{
		Name:    "lb",
		Summary: "F5/Cloudflare-style HTTP hop: strip Authorization, rewrite Host, X-Forwarded-For/-Proto, changeable at run time",
		Flags: func(fs *flag.FlagSet) fakes.Starter {
			var c Config
			c.RegisterFlags(fs)
			return func(ctx context.Context) (fakes.Server, error) {
				return Start(ctx, c)
			}
		},
	})
}
