package scenarios

import (
	"net/http"
	"time"

	. "github.com/chaoslab/chaoslab/assertions"
	"github.com/chaoslab/chaoslab/fakes/lb"
	"github.com/chaoslab/chaoslab/fakes/upstream"
	"github.com/chaoslab/chaoslab/load"
)

func init() {
	Register(Scenario{
		ID:    "lb/retried-post",
		Title: "The LB retries a timed-out POST: the order is created twice",
		Symptom: "LB try timeout inside the upstream's latency, POST retried: upstream executions per client POST >= 1.3 " +
			"while each client got one answer; LB not retrying POST, timeout above the upstream's latency: executions per POST 1.00 ± 0.01, >= 99% 200",
		Story: `Customers are charged twice for one order, a few times an hour, always at busy times. The client got ` +
			`one answer per order and Kong's access log shows nothing unusual. The load balancer in front of Kong ` +
			`gives up on a try after 200 ms and sends the request again, POST included; the order service is slower ` +
			`than that at busy times, and it had already created the order when the LB gave up.`,
		Lesson: `A retry that is invisible to the client is visible at the upstream: more executions than client requests. ` +
			`Compare the client's count with the upstream's (orders created, or requests in the upstream's access log) ` +
			`and look at the LB's retry counters and its log ("try 1 ... timed out"); Kong's access log shows the given-up ` +
			`tries as status 499 (client closed the connection) next to the retried one's 200. Kong itself never retries ` +
			`a POST once it was sent (nginx's rule: non-idempotent requests are not passed to the next upstream), an LB ` +
			`may.

Fix: do not retry non-idempotent methods at the LB (F5: no "retry on timeout" for POST/PATCH; nginx: ` +
			`proxy_next_upstream without non_idempotent), and give each try a timeout above what the service legitimately ` +
			`takes (above Kong's read_timeout for the route). Idempotency keys at the service make retries safe.`,
		New: func() Play { return &lbRetriedPOST{} },
	})
}

const (
	lbTryTimeout    = 200 * time.Millisecond
	orderLatency    = 100 * time.Millisecond // the order service: 100 ms ...
	orderJitter     = 200 * time.Millisecond // ... to 300 ms, half of it over the LB's try timeout
	lbFixTryTimeout = 2 * time.Second
)

type lbRetriedPOST struct{ lbSetup }

func (x *lbRetriedPOST) Setup(s *S) {
	x.up = s.startUpstream("orders", upstream.Config{Default: upstream.Behaviour{Latency: orderLatency, Jitter: orderJitter}})
	x.gw = s.startGateway(kongYAML(services(service("orders", httpURL("http", x.up)))))
	x.hop = s.startLB(x.gw, lb.Config{Retry: lb.Retry{TryTimeout: lbFixTryTimeout}}, "/orders", "-X POST -d '{\"item\":\"book\"}'")
	s.Command("The upstream's count of executions", "curl -s "+x.up.Fake.URL()+upstream.ControlPrefix+"stats")
}

// attack sends the POSTs and returns them with the executions the upstream
// counted meanwhile.
func (x *lbRetriedPOST) attack(s *S, name string) (load.Results, float64) {
	before, err := x.up.Control.Stats(s.Ctx)
	s.Must(err, "reading the upstream's counters")
	post := load.Target{Method: "POST", URL: x.hop.URL() + "/orders", Body: []byte(`{"item":"book","qty":1}`),
		Header: http.Header{"Content-Type": {"application/json"}}}
	rs := s.gwAttack(name, post)
	after, err := x.up.Control.Stats(s.Ctx)
	s.Must(err, "reading the upstream's counters")
	perPOST := float64(after.Requests-before.Requests) / float64(len(rs))
	s.Measure(name+": upstream executions per client POST", perPOST, "", "1 when nothing is retried")
	return rs, perPOST
}

func (x *lbRetriedPOST) Run(s *S) {
	s.Phase("baseline", "the LB waits as long as the service takes", func() {
		rs, perPOST := x.attack(s, "orders via LB")
		s.Expect(rs, "orders succeed").To(HaveSuccessShare(">=", 0.99))
		s.Expect(perPOST, "each order executed once").To(BeBetween(0.99, 1.01, "executions per POST"))
	})
	s.Phase("fault", "the LB gives up a try after 200 ms and retries, POST included", func() {
		st := s.lbApply(x.hop, "fault-applied", "try timeout 200ms, 2 retries, POST retried",
			lb.Settings{Retry: &lb.Retry{TryTimeout: lbTryTimeout, Retries: 2, RetryNonIdempotent: true}})
		if !st.Policy.RetryNonIdempotent || st.Policy.TryTimeout != lbTryTimeout {
			s.Failf("the LB did not take the retry policy: %+v", st.Policy)
		}
		before := st.Stats
		rs, perPOST := x.attack(s, "orders via LB")
		after, err := x.hop.Control.State(s.Ctx)
		s.Must(err, "reading the LB's counters")
		retried := float64(after.Retried - before.Retried)
		s.Measure("LB retries per client POST", retried/float64(len(rs)), "", "expected about 0.75 (half the tries time out)")
		s.Expect(retried, "the LB retried timed-out POSTs").To(BeNumber(">=", 0.25*float64(len(rs)), "retries"))
		s.Expect(rs, "each client got one HTTP answer").To(HaveTransportErrorShare("<=", 0.01))
		// About 87% succeed (12.5% of POSTs time out three times: the LB's
		// 504); a loaded machine slows the service and lowers that share,
		// not the point: the client saw one answer, the service ran twice.
		s.Expect(rs, "many of them a success").To(HaveSuccessShare(">=", 0.3))
		s.Expect(perPOST, "the upstream executed POSTs more than once").To(BeNumber(">=", 1.3, "executions per POST"))
	})
	s.Phase("fix", "no retry of POST at the LB; try timeout above the service's latency", func() {
		st := s.lbApply(x.hop, "fault-removed", "POST retried",
			lb.Settings{Retry: &lb.Retry{TryTimeout: lbFixTryTimeout, Retries: 2}})
		if st.Policy.RetryNonIdempotent {
			s.Failf("the LB still retries POST: %+v", st.Policy)
		}
	})
	s.Phase("recovery", "one execution per order", func() {
		rs, perPOST := x.attack(s, "orders via LB")
		s.Expect(rs, "orders succeed").To(HaveSuccessShare(">=", 0.99))
		s.Expect(perPOST, "each order executed once").To(BeBetween(0.99, 1.01, "executions per POST"))
	})
}
