// Package load drives traffic with vegeta and records every result: status,
// latency, error kind, chosen response headers, the start of the body and the
// per-request phase timings (dns, connect, tls, ttfb, total) that `curl -w`
// shows. Results aggregate into one-second buckets with HDR histograms.
//
// Like vegeta it is small composable pieces: Target, Pacer, Run/Stream with
// functional options, and Results with Series and Summary. Unlike a general
// load tool it refuses to send traffic anywhere but loopback unless a host is
// explicitly allowed, and caps rate and duration.
package load

import (
	"net/http"
	"strconv"
	"time"
)

// Target is one request to send.
type Target struct {
	Method string
	URL    string
	Body   []byte
	Header http.Header
}

// Phases is the `curl -w` breakdown of one request. Zero when the phase did
// not happen (a reused connection has no dns/connect/tls).
type Phases struct {
	DNS     time.Duration `json:"dns"`
	Connect time.Duration `json:"connect"`
	TLS     time.Duration `json:"tls"`
	TTFB    time.Duration `json:"ttfb"` // request start to first response byte
	Total   time.Duration `json:"total"`
	Reused  bool          `json:"reused"`
}

// Result is one request's outcome.
type Result struct {
	Seq       uint64            `json:"seq"`
	Target    int               `json:"target"` // index into the targets
	Timestamp time.Time         `json:"timestamp"`
	Code      int               `json:"code"` // 0 for a transport error
	Latency   time.Duration     `json:"latency"`
	Error     string            `json:"error,omitempty"`
	ErrorKind ErrorKind         `json:"error_kind,omitempty"` // "" when the request got an answer
	Headers   map[string]string `json:"headers,omitempty"`    // only the recorded ones
	Body      string            `json:"body,omitempty"`       // the first bytes
	Phases    Phases            `json:"phases"`
}

// End is when the result was complete.
func (r Result) End() time.Time { return r.Timestamp.Add(r.Latency) }

// Outcome is the status code as text, or the error kind for a transport
// error: "200", "504", "reset", "timeout", "unknown-authority".
func (r Result) Outcome() string {
	if r.Code == 0 {
		if r.ErrorKind == "" {
			return string(ErrOther)
		}
		return string(r.ErrorKind)
	}
	return strconv.Itoa(r.Code)
}
