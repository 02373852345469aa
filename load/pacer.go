package load

import (
	"fmt"
	"math"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Pacer decides when to send the next request (vegeta's Pacer) and says the
// highest rate it will ask for, so Run can enforce the rate cap up front.
type Pacer interface {
	vegeta.Pacer
	MaxRate(d time.Duration) float64
	String() string
}

// Constant sends perSecond requests every second.
func Constant(perSecond float64) Pacer { return Steps(Step{Rate: perSecond}) }

// Linear ramps from start to end requests per second over the attack.
func Linear(start, end float64, over time.Duration) Pacer {
	return linear{LinearPacer: vegeta.LinearPacer{
		StartAt: vegeta.Rate{Freq: int(start), Per: time.Second},
		Slope:   (end - start) / over.Seconds(),
	}, start: start, end: end, over: over}
}

type linear struct {
	vegeta.LinearPacer
	start, end float64
	over       time.Duration
}

func (l linear) MaxRate(time.Duration) float64 { return math.Max(l.start, l.end) }
func (l linear) String() string {
	return fmt.Sprintf("linear %g -> %g/s over %s", l.start, l.end, l.over)
}

// Spike sends base/s, then peak/s from at for width, then base/s again.
func Spike(base, peak float64, at, width time.Duration) Pacer {
	return Steps(Step{For: at, Rate: base}, Step{For: width, Rate: peak}, Step{Rate: base})
}

// Step is a constant rate held For a duration (0 = for the rest).
type Step struct {
	For  time.Duration
	Rate float64
}

// Steps is a piecewise-constant pacer: a constant rate, a spike or a staircase.
func Steps(steps ...Step) Pacer { return stepPacer(steps) }

type stepPacer []Step

func (s stepPacer) String() string {
	if len(s) == 1 {
		return fmt.Sprintf("constant %g/s", s[0].Rate)
	}
	return fmt.Sprintf("steps %v", []Step(s))
}

func (s stepPacer) MaxRate(time.Duration) float64 {
	m := 0.0
	for _, st := range s {
		m = math.Max(m, st.Rate)
	}
	return m
}

// hitsAt is how many requests should have been sent by elapsed.
func (s stepPacer) hitsAt(elapsed time.Duration) float64 {
	var hits float64
	var t time.Duration
	for i, st := range s {
		end := t + st.For
		if st.For == 0 || i == len(s)-1 {
			end = time.Duration(math.MaxInt64)
		}
		if elapsed <= end {
			return hits + (elapsed-t).Seconds()*st.Rate
		}
		hits += st.For.Seconds() * st.Rate
		t = end
	}
	return hits
}

// Pace returns how long to wait before the next hit. It walks the steps to
// find when the (hits+1)th request is due.
func (s stepPacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	due := float64(hits + 1)
	if s.hitsAt(elapsed) >= due {
		return 0, false
	}
	var acc float64
	var t time.Duration
	for i, st := range s {
		last := st.For == 0 || i == len(s)-1
		if !last && acc+st.For.Seconds()*st.Rate < due {
			acc += st.For.Seconds() * st.Rate
			t += st.For
			continue
		}
		if st.Rate <= 0 {
			if last {
				return 0, true // nothing more to send
			}
			t += st.For
			continue
		}
		at := t + time.Duration((due-acc)/st.Rate*float64(time.Second))
		return at - elapsed, false
	}
	return 0, true
}

// Rate is the rate the pacer asks for at elapsed (vegeta's Pacer interface).
func (s stepPacer) Rate(elapsed time.Duration) float64 {
	var t time.Duration
	for i, st := range s {
		if st.For == 0 || i == len(s)-1 || elapsed < t+st.For {
			return st.Rate
		}
		t += st.For
	}
	return 0
}
