package imds

import (
	"context"
	"flag"

	"github.com/chaoslab/chaoslab/fakes"
)

func init() {
	fakes.Register(fakes.Def{
		Name:    "imds",
		Summary: "EC2 instance metadata service (IMDSv1/v2) with rolling credentials of a chosen lifetime",
		Flags: func(fs *flag.FlagSet) fakes.Starter {
			var c Config
			c.RegisterFlags(fs)
			return func(ctx context.Context) (fakes.Server, error) {
				return Start(ctx, c)
			}
		},
	})
}
