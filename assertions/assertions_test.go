package assertions

import (
	"testing"
	"time"

	"github.com/onsi/gomega/types"

	"github.com/chaoslab/chaoslab/load"
)

func mk(n504, n200 int, lat time.Duration) load.Results {
	var rs load.Results
	for i := 0; i < n504; i++ {
		rs = append(rs, load.Result{Code: 504, Latency: lat})
	}
	for i := 0; i < n200; i++ {
		rs = append(rs, load.Result{Code: 200, Latency: lat})
	}
	return rs
}

func check(t *testing.T, m types.GomegaMatcher, actual any, want bool, msg string) {
	t.Helper()
	ok, err := m.Match(actual)
	if err != nil {
		t.Fatal(err)
	}
	if ok != want {
		t.Fatalf("match = %v, want %v (%s)", ok, want, m.FailureMessage(actual))
	}
	if msg != "" && m.FailureMessage(actual) != msg {
		t.Fatalf("message:\n got %q\nwant %q", m.FailureMessage(actual), msg)
	}
}

func TestStatusShareMessage(t *testing.T) {
	rs := mk(123, 177, time.Millisecond)
	check(t, HaveStatusShare(504, ">=", 0.95), rs, false, "expected >= 95% 504, got 59% 200, 41% 504 of 300 requests")
	check(t, HaveStatusShare(504, ">=", 0.40), rs, true, "")
	check(t, HaveSuccessShare("<=", 0.6), rs, true, "")
	check(t, HaveTransportErrorShare("==", 0), rs, true, "")
}

func TestErrorKindShare(t *testing.T) {
	rs := load.Results{{ErrorKind: load.ErrReset}, {ErrorKind: load.ErrReset}, {Code: 200}}
	check(t, HaveErrorKindShare(load.ErrReset, ">=", 0.95), rs, false, "expected >= 95% reset, got 66.7% reset, 33.3% 200 of 3 requests")
	check(t, HaveTransportErrorShare(">", 0.5), rs, true, "")
}

func TestLatencyMatchers(t *testing.T) {
	base := mk(0, 50, 2*time.Millisecond)
	slow := mk(0, 50, 203*time.Millisecond)
	check(t, HaveLatencyIncrease(base, 0.5, 200*time.Millisecond, 5*time.Millisecond, 0.05), slow, true, "")
	check(t, HaveLatencyIncrease(base, 0.5, 300*time.Millisecond, 5*time.Millisecond, 0.05), slow, false, "")
	check(t, HaveLatencyRatio(base, 0.5, ">=", 3), slow, true, "")
	check(t, HaveLatencyRatio(base, 0.5, "<=", 1.2), slow, false, "expected p50 <= 1.2x baseline, got p50 203ms vs baseline 2ms = 101.50x")
	check(t, HaveLatencyQuantile(0.99, "<", 300*time.Millisecond), slow, true, "")
	if _, err := HaveLatencyQuantile(0.5, "<", time.Second).Match(load.Results{}); err == nil {
		t.Fatal("an empty load passed a latency assertion")
	}
	if _, err := HaveStatusShare(200, "~", 1).Match(slow); err == nil {
		t.Fatal("unknown comparator accepted")
	}
}

func TestHeaderAndBody(t *testing.T) {
	rs := load.Results{{Code: 429, Headers: map[string]string{"Retry-After": "1"}, Body: `{"message":"API rate limit exceeded"}`}, {Code: 200}}
	check(t, HaveHeaderShare("Retry-After", "", ">=", 0.5), rs, true, "")
	check(t, HaveHeaderShare("Retry-After", "2", ">", 0), rs, false, "")
	check(t, HaveBodyShare("API rate limit exceeded", "==", 0.5), rs, true, "")
	e := HaveBodyShare("x", ">=", 1).(Explainer)
	if e.Expected() != `>= 100% bodies containing "x"` {
		t.Fatal(e.Expected())
	}
}

func TestLogLines(t *testing.T) {
	log := []string{`[error] upstream timed out (110: Connection timed out) while reading response header from upstream, request_id: "a"`, "[info] x"}
	check(t, HaveLogLines("upstream timed out (110: Connection timed out)", ">=", 1), log, true, "")
	check(t, HaveLogLines("prematurely closed", ">=", 1), log, false,
		`expected >= 1 log lines containing "prematurely closed", got 0 of 2 lines; last line: [info] x`)
}

func TestNumeric(t *testing.T) {
	check(t, BeAround(20, 2, "req/s"), 21.5, true, "")
	check(t, BeAround(20, 2, "req/s"), 25.0, false, "expected 20 ± 2 req/s, got 25 req/s")
	check(t, BeNumber("<", 20, "ms"), 3, true, "")
	check(t, BeBetween(2.5, 3.5, "x"), 3.6, false, "expected between 2.5 and 3.5 x, got 3.6 x")
}
