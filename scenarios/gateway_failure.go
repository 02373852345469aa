package scenarios

import (
	"strconv"
	"time"

	. "github.com/chaoslab/chaoslab/assertions"
	"github.com/chaoslab/chaoslab/fakes/upstream"
	"github.com/chaoslab/chaoslab/lab"
	"github.com/chaoslab/chaoslab/load"
)

// gwFailure is the shape shared by the gateway scenarios where one upstream
// failure maps to one status and one error-log line (facts/kong.md's table):
// baseline, break the upstream, assert status + body + log line, repair,
// assert recovery. Each incident is still its own file with its own story.
type gwFailure struct {
	gwSetup
	status  int
	body    string // Kong's (or the upstream's) body text
	logLine string // the exact nginx text; "" when nginx logs nothing
	breakIt func(s *S, x *gwFailure) func()
	extra   func(s *S, x *gwFailure, rs load.Results)
	config  string // kong.yml extra lines for the service
}

func (x *gwFailure) Setup(s *S) {
	x.up = s.startUpstream("orders", upstream.Config{})
	extra := []string{"retries: 0"}
	if x.config != "" {
		extra = append(extra, x.config)
	}
	x.gw = s.startGateway(kongYAML(services(service("orders", httpURL("http", x.up), extra...))))
	s.Command("The upstream directly, bypassing Kong", "curl -v "+x.up.DirectURL()+"/orders")
	s.Command("Status and body through Kong", "curl -si "+x.gw.ProxyURL()+"/orders")
	if x.logLine != "" {
		s.Command("The matching error-log line", "grep -F '"+x.logLine+"' error.log")
	}
}

func (x *gwFailure) Run(s *S) {
	orders := target("GET", x.gw.ProxyURL()+"/orders")
	s.Phase("baseline", "healthy upstream", func() {
		s.Expect(s.gwAttack("baseline", orders), "requests succeed").To(HaveSuccessShare(">=", 0.99))
	})
	var repair func()
	s.Phase("fault", "break the upstream", func() {
		repair = x.breakIt(s, x)
		logStart := len(x.gw.ErrorLog())
		rs := s.gwAttack("fault", orders)
		s.Expect(rs, "Kong's status").To(HaveStatusShare(x.status, ">=", 0.95))
		s.Expect(rs, "the body").To(HaveBodyShare(x.body, ">=", 0.95))
		errs := s.gatewayErrors(x.gw, logStart)
		if x.logLine != "" {
			s.Expect(errs, "nginx's error-log line").To(HaveLogLines(x.logLine, ">=", len(rs)*9/10))
		}
		if x.extra != nil {
			x.extra(s, x, rs)
		}
	})
	s.Phase("fix", "repair the upstream", func() { repair() })
	s.Phase("recovery", "requests succeed again", func() {
		rs := s.gwAttack("recovery", orders)
		s.Expect(rs, "requests succeed").To(HaveSuccessShare(">=", 0.99))
	})
}

// withFault breaks the upstream with a toxiproxy fault; repair removes it.
func withFault(f lab.Fault) func(s *S, x *gwFailure) func() {
	return func(s *S, x *gwFailure) func() {
		a := s.apply(x.up.Proxy, f)
		return func() { s.remove(x.up.Proxy, a) }
	}
}

// withBehaviour breaks the upstream itself through its control API and
// checks the broken behaviour directly before blaming Kong for it.
func withBehaviour(b upstream.Behaviour, realised func(s *S, x *gwFailure)) func(s *S, x *gwFailure) func() {
	return func(s *S, x *gwFailure) func() {
		s.Must(x.up.Control.SetBehaviour(s.Ctx, upstream.ControlState{Default: b}), "changing the upstream's behaviour")
		s.Lab.Record("fault-applied", x.up.Name, "upstream behaviour "+describe(b))
		if realised != nil {
			realised(s, x)
		}
		return func() {
			s.Must(x.up.Control.SetBehaviour(s.Ctx, upstream.ControlState{}), "restoring the upstream")
			s.Lab.Record("fault-removed", x.up.Name, "upstream behaviour "+describe(b))
		}
	}
}

func describe(b upstream.Behaviour) string {
	switch {
	case b.Mode != "" && b.Mode != upstream.ModeNormal:
		return "mode " + string(b.Mode)
	case b.Status != 0:
		return "status " + strconv.Itoa(b.Status)
	}
	return "normal"
}

// directProbe requests the upstream directly (no gateway, no fault proxy)
// and returns what a client sees: the realisation check for behaviours.
func (s *S) directProbe(url string) load.Results {
	rs, err := load.Run(s.Ctx, get(url), load.Constant(20), 200*time.Millisecond)
	s.Must(err, "probing the upstream directly")
	return rs
}
