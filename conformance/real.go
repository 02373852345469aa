package conformance

import (
	"context"
	"os"
	"sync"

	"github.com/chaoslab/chaoslab/lab"
)

// gatewayEnv serialises the swaps of lab.EnvGateway: lab picks the gateway
// from it when Lab.Gateway is called (the kong branch's driver), and the
// suite starts both kinds in one lab.
var gatewayEnv sync.Mutex

// startAs starts the lab's gateway with lab.EnvGateway set to choice for the
// duration of the call.
func startAs(ctx context.Context, l *lab.Lab, y, choice string, o lab.GatewayOptions) (*lab.Gateway, error) {
	gatewayEnv.Lock()
	defer gatewayEnv.Unlock()
	old, had := os.LookupEnv(lab.EnvGateway)
	os.Setenv(lab.EnvGateway, choice)
	defer func() {
		if had {
			os.Setenv(lab.EnvGateway, old)
		} else {
			os.Unsetenv(lab.EnvGateway)
		}
	}()
	return l.Gateway(ctx, y, o)
}

// RealKong is real Kong 3.9.1 as a host process (scripts/kong.sh builds
// it); starting it fails with an error lab.IsRealKongNotBuilt recognises
// when it is not built.
func RealKong() Side {
	return Side{Name: "real Kong " + lab.KindHostKong, Start: func(ctx context.Context, l *lab.Lab, y string, o lab.GatewayOptions) (Target, error) {
		return startAs(ctx, l, y, "kong", o)
	}}
}

// NotBuilt is the one line the suite skips with.
const NotBuilt = "real Kong not built: run make kong"

// IsNotBuilt says whether err means real Kong must be built first.
func IsNotBuilt(err error) bool { return lab.IsRealKongNotBuilt(err) }
