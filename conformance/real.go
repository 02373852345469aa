package conformance

import (
	"context"

	"github.com/chaoslab/chaoslab/lab"
)

// startAs starts the lab's gateway as choice ("emulation" or "kong").
func startAs(ctx context.Context, l *lab.Lab, y, choice string, o lab.GatewayOptions) (*lab.Gateway, error) {
	return l.Gateway(ctx, y, lab.WithGateway(choice), lab.WithDNS(o.DNS), lab.WithHosts(o.Hosts), lab.WithTrustedIPs(o.TrustedIPs))
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
