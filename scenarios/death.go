package scenarios

import (
	"fmt"
	"strings"

	"github.com/chaoslab/chaoslab/lab"
	"github.com/chaoslab/chaoslab/reports"
)

// watchDeaths cancels the run as soon as the lab reports a dead component,
// so loads, waits and polls end at once instead of running into their
// timeouts; blameDeaths then names the component in the verdict. The
// returned func stops watching (and waits for it).
func (s *S) watchDeaths(cancel func(error)) (stop func()) {
	done, quit := make(chan struct{}), make(chan struct{})
	died := s.Lab.Died()
	go func() {
		defer close(done)
		select {
		case <-died:
			if ds := s.Lab.Deaths(); len(ds) > 0 {
				cancel(ds[0])
			}
		case <-quit:
		}
	}()
	return func() { close(quit); <-done }
}

// blameDeaths makes a run during which a lab component died a failure whose
// reason names the component and the phase, whatever the scenario itself
// concluded: a pass with a dead component proves nothing, and a symptom
// seen after one died is the death's, not the fault's.
func (s *S) blameDeaths(res *reports.Scenario) {
	if s.Lab == nil {
		return // also a run held for a trainee fails when a component died
	}
	deaths := s.Lab.Deaths()
	if len(deaths) == 0 {
		return
	}
	var parts []string
	for _, d := range deaths {
		parts = append(parts, fmt.Sprintf("%s died during phase %s (%s)", d.Component, s.phaseAt(d), d.How))
	}
	reason := "lab component died: " + strings.Join(parts, "; ")
	if res.Verdict != reports.Passed && res.Reason != "" {
		reason += "; then: " + res.Reason
	}
	res.Verdict, res.Reason = reports.Failed, reason
}

// phaseAt names the phase that was running when the lab noticed d.
func (s *S) phaseAt(d lab.Death) string {
	name := "before setup"
	for _, p := range s.rec.Phases {
		if !p.StartedAt.After(d.At) {
			name = p.Name
		}
	}
	return name
}
