package upstream

import (
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// Mode is how the upstream ends a request. The failure modes are the ones a
// gateway's error log distinguishes (see facts/kong.md): a close before the
// headers is "prematurely closed", a reset is "Connection reset by peer",
// malformed bytes are "upstream sent invalid header".
type Mode string

const (
	ModeNormal    Mode = "normal"    // answer with Status after Latency
	ModeClose     Mode = "close"     // close the connection before any header
	ModeReset     Mode = "reset"     // TCP RST (SO_LINGER 0) before any header
	ModeMalformed Mode = "malformed" // write bytes that are not HTTP, then close
	ModeHang      Mode = "hang"      // never answer; hold until the client gives up
)

var modes = []Mode{ModeNormal, ModeClose, ModeReset, ModeMalformed, ModeHang}

// Behaviour is what the upstream does with one request. The zero value answers
// 200 at once with a small JSON body.
type Behaviour struct {
	Latency  time.Duration `json:"latency,omitempty"`   // before the headers, CPU burnt included
	Jitter   time.Duration `json:"jitter,omitempty"`    // uniform extra 0..Jitter
	Status   int           `json:"status,omitempty"`    // 0 means 200
	BodySize int           `json:"body_size,omitempty"` // pad the body to at least this many bytes
	SlowBody time.Duration `json:"slow_body,omitempty"` // spread the body over this long (headers first)
	Mode     Mode          `json:"mode,omitempty"`      // "" means normal
	CPU      time.Duration `json:"cpu,omitempty"`       // busy CPU work per request (autoscaling)
	// CPUPerRequest is CPU time (not wall time) burnt per request: calibrated,
	// so a pod whose CPU is throttled or shared still costs exactly this much
	// CPU per request, and answers later instead.
	CPUPerRequest time.Duration `json:"cpu_per_request,omitempty"`
	// Workers, when > 0, serves at most this many requests of this behaviour
	// (the default, or one rule) at once, as a server with a fixed pool of
	// workers: the others wait in line, in order of arrival, before any of
	// the above applies; a request whose client gives up leaves the line. A
	// rule without workers is never queued behind them (a health check).
	// Query parameters cannot change it.
	Workers int `json:"workers,omitempty"`
}

// Validate says which field is wrong, in flag terms.
func (b Behaviour) Validate() error {
	switch {
	case b.Latency < 0:
		return fmt.Errorf("latency: must not be negative, got %s", b.Latency)
	case b.Jitter < 0:
		return fmt.Errorf("jitter: must not be negative, got %s", b.Jitter)
	case b.Status != 0 && (b.Status < 100 || b.Status > 599):
		return fmt.Errorf("status: must be an HTTP status 100..599, got %d", b.Status)
	case b.BodySize < 0:
		return fmt.Errorf("body-size: must not be negative, got %d", b.BodySize)
	case b.SlowBody < 0:
		return fmt.Errorf("slow-body: must not be negative, got %s", b.SlowBody)
	case b.CPU < 0:
		return fmt.Errorf("cpu: must not be negative, got %s", b.CPU)
	case b.CPUPerRequest < 0:
		return fmt.Errorf("cpu-per-request: must not be negative, got %s", b.CPUPerRequest)
	case b.Workers < 0:
		return fmt.Errorf("workers: must not be negative (0: no limit), got %d", b.Workers)
	}
	for _, m := range modes {
		if b.Mode == "" || b.Mode == m {
			return nil
		}
	}
	return fmt.Errorf("mode: must be one of %v, got %q", modes, b.Mode)
}

// override applies per-request query parameters (?latency=300ms&status=503),
// so a trainee can poke one request with curl without reconfiguring the fake.
func (b Behaviour) override(q url.Values) (Behaviour, error) {
	dur := func(key string, dst *time.Duration) error {
		if v := q.Get(key); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("query %s: %v", key, err)
			}
			*dst = d
		}
		return nil
	}
	num := func(key string, dst *int) error {
		if v := q.Get(key); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("query %s: %v", key, err)
			}
			*dst = n
		}
		return nil
	}
	for _, err := range []error{
		dur("latency", &b.Latency), dur("jitter", &b.Jitter), dur("slow_body", &b.SlowBody),
		dur("cpu", &b.CPU), num("status", &b.Status), num("body_size", &b.BodySize),
	} {
		if err != nil {
			return b, err
		}
	}
	if m := q.Get("mode"); m != "" {
		b.Mode = Mode(m)
	}
	return b, b.Validate()
}
