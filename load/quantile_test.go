package load

import "testing"

func TestHeaderQuantileSkipsResultsWithoutTheHeader(t *testing.T) {
	rs := Results{}
	for _, v := range []string{"30", "10", "", "20", "x", "40"} {
		r := Result{Headers: map[string]string{}}
		if v != "" {
			r.Headers["X-Creds-Duration"] = v
		}
		rs = append(rs, r)
	}
	if got := rs.HeaderQuantile("X-Creds-Duration", 0.5); got != 30 {
		t.Fatalf("p50 of 10,20,30,40 = %v, want 30 (upper median)", got)
	}
	if got := rs.HeaderQuantile("X-Creds-Duration", 1); got != 40 {
		t.Fatalf("p100 = %v, want 40", got)
	}
	if got := rs.HeaderQuantile("X-Nope", 0.5); got != -1 {
		t.Fatalf("absent header: %v, want -1", got)
	}
}
