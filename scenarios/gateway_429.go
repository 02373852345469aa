package scenarios

import (
	"fmt"
	"time"

	. "github.com/chaoslab/chaoslab/assertions"
	"github.com/chaoslab/chaoslab/fakes/upstream"
	"github.com/chaoslab/chaoslab/load"
)

func init() {
	Register(Scenario{
		ID:      "gateway/429-rate-limit",
		Title:   "A rate limit below the real traffic: 429s",
		Symptom: "limit 20/s under 50/s of load: accepted 20/s ± 10% on average (± 25% in any one second), the rest 429 'API rate limit exceeded' with Retry-After and X-RateLimit-* headers",
		Story: `A partner integration goes live and sends 50 requests per second to an API whose consumer limit was set to ` +
			`20/s in a test environment and never revisited. Most of their requests fail with 429; the API itself is idle.`,
		Lesson: `Kong's rate-limiting plugin answers 429 "API rate limit exceeded" once the window's counter is spent, with ` +
			`Retry-After and X-RateLimit-Limit-Second / X-RateLimit-Remaining-Second (and RateLimit-*) on every response: the ` +
			`client can see the limit before it hits it. The accepted rate is flat at the limit whatever the load: that flat ` +
			`line on a dashboard is the signature. With policy local each Kong node counts alone, so N nodes accept N x limit.

Fix: raise the limit for that consumer, or make the client honour Retry-After.`,
		New: func() Play { return &gwRateLimit{} },
	})
}

type gwRateLimit struct{ gwSetup }

const (
	rlLimit = 20
	rlLoad  = 50.0
)

func (x *gwRateLimit) config(limit int) string {
	return kongYAML(services(service("orders", httpURL("http", x.up),
		"plugins:", "- name: rate-limiting", fmt.Sprintf("  config: {second: %d, policy: local}", limit))))
}

func (x *gwRateLimit) Setup(s *S) {
	x.up = s.startUpstream("orders", upstream.Config{})
	x.gw = s.startGateway(x.config(rlLimit))
	s.Command("The rate-limit headers on one request", "curl -si "+x.gw.ProxyURL()+"/orders | grep -iE '^(x-)?ratelimit|^retry-after'")
	s.Command("50 requests per second for 5 s", "echo 'GET "+x.gw.ProxyURL()+"/orders' | vegeta attack -rate=50 -duration=5s | vegeta report")
}

// acceptedPerSecond counts 200s per wall-clock second, the window Kong's
// local policy counts in, over the whole seconds inside the attack.
func acceptedPerSecond(rs load.Results) (perSecond []float64) {
	if len(rs) == 0 {
		return nil
	}
	counts := map[int64]int{}
	first, last := rs[0].Timestamp.Unix(), rs[0].Timestamp.Unix()
	for _, r := range rs {
		sec := r.Timestamp.Unix()
		first, last = min(first, sec), max(last, sec)
		if r.Code == 200 {
			counts[sec]++
		}
	}
	for sec := first + 1; sec < last; sec++ { // the first and last seconds are partial
		perSecond = append(perSecond, float64(counts[sec]))
	}
	return perSecond
}

func (x *gwRateLimit) Run(s *S) {
	orders := target("GET", x.gw.ProxyURL()+"/orders")
	s.Phase("baseline", "10/s, under the limit", func() {
		rs := s.Attack("under the limit", []load.Target{orders}, load.Constant(10), gwLoad)
		s.Expect(rs, "every request accepted").To(HaveSuccessShare(">=", 0.99))
		s.Expect(rs, "the limit is announced").To(HaveHeaderShare("X-RateLimit-Limit-Second", fmt.Sprint(rlLimit), ">=", 0.99))
	})
	s.Phase("fault", "50/s against a 20/s limit", func() {
		rs := s.Attack("over the limit", []load.Target{orders}, load.Constant(rlLoad), 4*time.Second)
		per := acceptedPerSecond(rs)
		if len(per) < 2 {
			s.Failf("too few whole seconds in the attack to judge a per-second limit: %v", per)
		}
		// Kong counts in windows of its own clock (ngx.time()), which the
		// client's whole seconds straddle: a client second can hold a few
		// requests of the neighbouring window (real Kong: 23 in one second).
		// The mean over whole seconds is the limit within 10%; each second
		// within 25%.
		var sum float64
		for i, n := range per {
			sum += n
			s.Expect(n, fmt.Sprintf("accepted in whole second %d", i+1)).To(BeAround(rlLimit, rlLimit/4, "req/s"))
		}
		s.Expect(sum/float64(len(per)), "accepted per whole second, mean").To(BeAround(rlLimit, rlLimit/10, "req/s"))
		s.Expect(rs, "the rest is refused with 429").To(HaveStatusShare(429, ">=", 0.5))
		limited := rs.Filter(func(r load.Result) bool { return r.Code == 429 })
		s.Expect(limited, "Kong's 429 body").To(HaveBodyShare("API rate limit exceeded", ">=", 0.99))
		s.Expect(limited, "429s carry Retry-After").To(HaveHeaderShare("Retry-After", "", ">=", 0.99))
		s.Expect(limited, "429s show nothing remaining").To(HaveHeaderShare("X-RateLimit-Remaining-Second", "0", ">=", 0.99))
		s.Expect(rs, "RateLimit-Limit on every response").To(HaveHeaderShare("RateLimit-Limit", fmt.Sprint(rlLimit), ">=", 0.99))
	})
	s.Phase("fix", "raise the limit to 100/s (POST /config)", func() { s.reload(x.gw, x.config(100)) })
	s.Phase("recovery", "50/s all accepted", func() {
		rs := s.Attack("under the new limit", []load.Target{orders}, load.Constant(rlLoad), gwLoad)
		s.Expect(rs, "every request accepted").To(HaveSuccessShare(">=", 0.99))
	})
}
