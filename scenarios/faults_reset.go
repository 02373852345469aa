package scenarios

import (
	. "github.com/chaoslab/chaoslab/assertions"
	"github.com/chaoslab/chaoslab/fakes/upstream"
	"github.com/chaoslab/chaoslab/lab"
	"github.com/chaoslab/chaoslab/load"
)

func init() {
	Register(Scenario{
		ID:      "faults/upstream-reset",
		Title:   "Upstream connections reset by peer",
		Symptom: "transport errors of kind reset >= 95% while reset_peer is on, 0% after removal",
		Story: `A stateful middlebox (a NAT gateway, a firewall, a load balancer) drops its connection table or times out idle flows, ` +
			`and answers the next packet on each pooled connection with a TCP RST. Clients see "connection reset by peer" and no HTTP status at all.`,
		Lesson: `A reset is not an HTTP error: there is no status code to count, so dashboards that only chart 5xx show nothing. ` +
			`Count transport errors by kind (the lab records reset, refused, timeout, eof separately).

Behind a gateway the same fault becomes a 502 with "recv() failed (104: Connection reset by peer)" in the error log (see gateway/502-reset).`,
		New: func() Play { return &upstreamReset{} },
	})
}

type upstreamReset struct{ up *lab.Upstream }

func (x *upstreamReset) Setup(s *S) {
	var err error
	x.up, err = s.Lab.Upstream(s.Ctx, "api", upstream.Config{})
	s.Must(err, "starting the upstream")
	api := s.toxiproxyAPI()
	s.Command("See the reset from a client", "curl -v "+x.up.URL()+"/")
	s.Command("Inject it by hand", toxicCommand(api, "api", "reset_peer", `{"timeout":0}`))
}

func (x *upstreamReset) Run(s *S) {
	targets := get(x.up.URL() + "/")
	s.Phase("baseline", "healthy path", func() {
		rs := s.Attack("baseline", targets, constant(), phaseLoad)
		s.Expect(rs, "every request succeeds").To(HaveSuccessShare(">=", 0.99))
	})
	var applied *lab.Applied
	s.Phase("fault", "reset_peer toxic: RST on every connection", func() {
		applied = s.apply(x.up.Proxy, lab.ResetPeer{})
		rs := s.Attack("reset", targets, constant(), phaseLoad)
		s.Expect(rs, "requests fail with connection reset").To(HaveErrorKindShare(load.ErrReset, ">=", 0.95))
	})
	s.Phase("fix", "remove the toxic", func() { s.remove(x.up.Proxy, applied) })
	s.Phase("recovery", "no more transport errors", func() {
		rs := s.Attack("recovery", targets, constant(), phaseLoad)
		s.Expect(rs, "no transport errors").To(HaveTransportErrorShare("==", 0))
		s.Expect(rs, "every request succeeds").To(HaveSuccessShare(">=", 0.99))
	})
}
