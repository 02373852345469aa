package scenarios

import (
	"fmt"
	"time"

	"github.com/chaoslab/chaoslab/lab"
	"github.com/chaoslab/chaoslab/load"
)

// Scenario timing. Time-compressed so the catalog runs in about a minute,
// but long enough that shares are judged on hundreds of requests.
const (
	phaseLoad = time.Second
	phaseRate = 200.0 // requests per second
)

// constant is the default scenario pacer.
func constant() load.Pacer { return load.Constant(phaseRate) }

// get is a GET target.
func get(url string) []load.Target { return []load.Target{{Method: "GET", URL: url}} }

// curlTiming is the `curl -w` breakdown SREs use (facts/diagnosis-commands.md).
func curlTiming(url string) string {
	return `curl -s -o /dev/null -w '{"code":%{http_code},"dns":%{time_namelookup},"tcp":%{time_connect},"tls":%{time_appconnect},"ttfb":%{time_starttransfer},"total":%{time_total}}\n' ` + url
}

// toxicCommand is how a trainee applies the same fault by hand.
func toxicCommand(api, proxy, typ, attrs string) string {
	return fmt.Sprintf(`curl -s -X POST %s/proxies/%s/toxics -d '{"name":"by-hand","type":"%s","attributes":%s}'`, api, proxy, typ, attrs)
}

func (s *S) toxiproxyAPI() string {
	api, err := s.Lab.ToxiproxyAPI(s.Ctx)
	s.Must(err, "toxiproxy API")
	return api
}

// apply injects a fault and records the probe's measurement; the lab has
// already refused it if the probe did not see it.
func (s *S) apply(p *lab.FaultProxy, f lab.Fault) *lab.Applied {
	a, err := p.Apply(s.Ctx, f)
	s.Must(err, "applying "+f.String())
	s.Note(fmt.Sprintf("%s realised: %s", f, a.Measured))
	return a
}

func (s *S) remove(p *lab.FaultProxy, a *lab.Applied) {
	s.Must(p.Remove(s.Ctx, a), "removing "+a.Fault.String())
}
