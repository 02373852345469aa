package dns

import (
	"context"
	"flag"

	"github.com/chaoslab/chaoslab/fakes"
)

func init() {
	fakes.Register(fakes.Def{
		Name:    "dns",
		Summary: "authoritative DNS for the lab's names (A/AAAA, NXDOMAIN otherwise) with latency and a query log",
		Flags: func(fs *flag.FlagSet) fakes.Starter {
			var c Config
			c.RegisterFlags(fs)
			return func(ctx context.Context) (fakes.Server, error) {
				return Start(ctx, c)
			}
		},
	})
}
