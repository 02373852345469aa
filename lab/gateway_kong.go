package lab

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/chaoslab/chaoslab/lab/internal/realkong"
)

// EnvGateway chooses the gateway: "emulation" or "kong" (make GATEWAY=...).
// Unset: the emulation on the embedded backend, real Kong on docker when an
// image is there.
const EnvGateway = "CHAOSLAB_GATEWAY"

// ErrRealKongNotBuilt is returned by Lab.Gateway when real Kong was asked
// for on the embedded backend and scripts/kong.sh has not built it.
var ErrRealKongNotBuilt = realkong.ErrNotBuilt

// KindHostKong is the gateway kind of real Kong run as a host process.
const KindHostKong = "kong " + realkong.Version + " (host process)"

// GatewayChoice is the gateway EnvGateway asks for ("" when unset).
func GatewayChoice() string { return strings.ToLower(strings.TrimSpace(os.Getenv(EnvGateway))) }

// hostKongSelected: real Kong as a host process is used on backends that
// run no gateway of their own (embedded) when GATEWAY=kong.
func hostKongSelected(b Backend, o GatewayOptions) bool {
	_, own := b.(GatewayStarter)
	return !own && o.Selected() == "kong"
}

// startHostKong runs the Kong scripts/kong.sh built, with the lab's kong.yml.
func startHostKong(ctx context.Context, l *Lab, configPath string, o GatewayOptions) (Service, string, error) {
	in, err := realkong.FindInstall()
	if err != nil {
		return nil, "", err
	}
	k, err := realkong.Start(ctx, in, realkong.Options{
		Dir: filepath.Dir(configPath), Config: configPath, Hosts: o.Hosts, DNS: o.DNS,
		Headers: os.Getenv("CHAOSLAB_KONG_HEADERS"), TrustedIPs: o.TrustedIPs,
	})
	if err != nil {
		return nil, "", err
	}
	l.Record("note", "gateway", "real Kong started in "+k.StartedIn.Round(1e6).String())
	return &hostKong{k}, KindHostKong, nil
}

// hostKong is real Kong as a lab Service: the access log is its stdout, the
// error log its stderr, as for a Kong container.
type hostKong struct{ k *realkong.Kong }

func (h *hostKong) URL() string             { return h.k.ProxyURL }
func (h *hostKong) Info() map[string]string { return map[string]string{"admin": h.k.AdminURL} }
func (h *hostKong) Stdout() []string        { return h.k.AccessLog() }
func (h *hostKong) Stderr() []string        { return h.k.ErrorLog() }
func (h *hostKong) Close() error            { return h.k.Close() }
func (h *hostKong) Exited() (string, bool)  { return h.k.Exited() }
func (h *hostKong) Kill() error             { return h.k.Kill() }

// IsRealKongNotBuilt reports whether err means Kong must be built first.
func IsRealKongNotBuilt(err error) bool { return errors.Is(err, ErrRealKongNotBuilt) }
