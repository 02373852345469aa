package scenarios

import (
	"github.com/chaoslab/chaoslab/fakes/lb"
	"github.com/chaoslab/chaoslab/lab"
)

// The lb family: a load balancer (F5, Cloudflare, an nginx tier) in front
// of Kong changes requests on the way in, and Kong's answer says how. Each
// scenario changes the hop's policy through its control API (the fault and
// the fix), the same way on every backend.

// lbSetup is the family's topology: an upstream, Kong, and the hop in front.
type lbSetup struct {
	gwSetup
	hop *lab.LB
}

// startLB starts the hop in front of the gateway and registers the first
// diagnosis command of the family: the same request through the LB and
// straight to Kong.
func (s *S) startLB(g *lab.Gateway, cfg lb.Config, path string, curlArgs string) *lab.LB {
	cfg.Backend = g.ProxyURL()
	hop, err := s.Lab.LB(s.Ctx, cfg)
	s.Must(err, "starting the load balancer")
	s.Command("Through the load balancer", "curl -si "+curlArgs+" "+hop.URL()+path)
	s.Command("Bypassing it, straight to Kong", "curl -si "+curlArgs+" "+g.ProxyURL()+path)
	s.Command("What the LB does to requests (its policy and counters)", "curl -s "+hop.URL()+lb.ControlPath)
	return hop
}

// lbApply changes the hop's policy and records it; the returned state is
// the realisation check.
func (s *S) lbApply(hop *lab.LB, event, what string, st lb.Settings) lb.State {
	got, err := hop.Control.Apply(s.Ctx, st)
	s.Must(err, "changing the LB policy")
	s.Lab.Record(event, "lb", what)
	return got
}

func lbSet[T any](v T) *T { return &v }
