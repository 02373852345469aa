package scenarios

import (
	"fmt"
	"net/http"

	. "github.com/chaoslab/chaoslab/assertions"
	"github.com/chaoslab/chaoslab/fakes/lb"
	"github.com/chaoslab/chaoslab/fakes/upstream"
	"github.com/chaoslab/chaoslab/load"
)

func init() {
	Register(Scenario{
		ID:    "lb/body-reframed",
		Title: "The LB re-frames request bodies with a short Content-Length: the next request on the connection gets 400",
		Symptom: "LB writing Content-Length 4 bytes short: 400 'Bad request' (Kong's plain-text error) on 25-75% of POSTs, " +
			"the others 200 with a truncated body; LB passing bodies through: >= 99% 200",
		Story: `After an LB firmware upgrade, about half of the POSTs to the order API fail with 400 Bad Request, and the ` +
			`ones that succeed arrive at the order service with JSON cut short. GETs behind a POST on the same connection ` +
			`fail too. The LB now buffers chunked request bodies and forwards them with a Content-Length, computed a few ` +
			`bytes short, while still sending the whole body.`,
		Lesson: `Kong (nginx) reads exactly Content-Length bytes of body; whatever follows on a keep-alive connection is ` +
			`the next request. A body sent past its Content-Length therefore truncates this request and poisons the next ` +
			`one: its "request line" starts with the leftover bytes, and Kong answers 400 with the plain-text body "Bad ` +
			`request" and request_id, then closes the connection (measured on Kong 3.9.1; no error.log line at the ` +
			`default level: nginx logs "client sent invalid method" at info). The failing request is not the guilty ` +
			`one, so the 400s look random: look at the request before it on the same connection, and at the body ` +
			`lengths the upstream receives (an echo upstream shows Content-Length). A Content-Length longer than the ` +
			`body shows the other way: Kong waits for the rest and answers 408 after client_body_timeout (60 s).

Fix: the LB passes the body through unchanged (chunked stays chunked, or it counts the bytes it sends); check ` +
			`with a chunked curl (-H 'Transfer-Encoding: chunked') through the LB and an echo upstream.`,
		New: func() Play { return &lbBodyReframed{} },
	})
}

const (
	reframeShort = 4
	orderBody    = `{"item":"book","qty":1}`
)

type lbBodyReframed struct{ lbSetup }

func (x *lbBodyReframed) Setup(s *S) {
	x.up = s.startUpstream("orders", upstream.Config{})
	x.gw = s.startGateway(kongYAML(services(service("orders", httpURL("http", x.up)))))
	x.hop = s.startLB(x.gw, lb.Config{}, "/orders", "-H 'Transfer-Encoding: chunked' -H 'Content-Type: application/json' -d '{\"item\":\"book\",\"qty\":1}'")
}

func (x *lbBodyReframed) post() load.Target {
	return load.Target{Method: "POST", URL: x.hop.URL() + "/orders", Body: []byte(orderBody),
		Header: http.Header{"Content-Type": {"application/json"}}}
}

func (x *lbBodyReframed) Run(s *S) {
	s.Phase("baseline", "the LB passes bodies through", func() {
		s.Expect(s.gwAttack("orders via LB", x.post()), "orders succeed").To(HaveSuccessShare(">=", 0.99))
	})
	s.Phase("fault", "the LB re-frames bodies with Content-Length 4 bytes short", func() {
		st := s.lbApply(x.hop, "fault-applied", "Content-Length 4 bytes short", lb.Settings{ReframeShort: lbSet(reframeShort)})
		if st.Policy.ReframeShort != reframeShort {
			s.Failf("the LB did not take the re-framing policy: %+v", st.Policy)
		}
		before := st.Stats
		rs := s.gwAttack("orders via LB", x.post())
		after, err := x.hop.Control.State(s.Ctx)
		s.Must(err, "reading the LB's counters")
		s.Expect(float64(after.Reframed-before.Reframed), "the LB re-framed the bodies").
			To(BeNumber(">=", 0.9*float64(len(rs)), "bodies"))
		s.Expect(rs, "the POST after a poisoned one: 400").To(HaveStatusShare(400, ">=", 0.25))
		s.Expect(rs, "... but not all of them: the poisoning one succeeds").To(HaveStatusShare(400, "<=", 0.75))
		s.Expect(rs, "Kong's own 400 body").To(HaveBodyShare("Bad request\nrequest_id: ", ">=", 0.25))
		truncated := fmt.Sprintf(`"Content-Length":"%d"`, len(orderBody)-reframeShort)
		s.Expect(rs, "the POSTs that passed reached the upstream truncated (its echo)").To(HaveBodyShare(truncated, ">=", 0.25))
		s.Expect(rs, "every POST got an answer").To(HaveTransportErrorShare("<=", 0.01))
	})
	s.Phase("fix", "the LB passes bodies through unchanged", func() {
		st := s.lbApply(x.hop, "fault-removed", "Content-Length 4 bytes short", lb.Settings{ReframeShort: lbSet(0)})
		if st.Policy.ReframeShort != 0 {
			s.Failf("the LB still re-frames bodies: %+v", st.Policy)
		}
	})
	s.Phase("recovery", "orders succeed", func() {
		s.Expect(s.gwAttack("orders via LB", x.post()), "orders succeed").To(HaveSuccessShare(">=", 0.99))
	})
}
