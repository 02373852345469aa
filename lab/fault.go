package lab

import (
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"
)

// Fault is one injectable network fault. Each lives in its own file
// (fault_latency.go, fault_reset.go, ...), like toxiproxy's toxics.
type Fault interface {
	// Kind is the toxiproxy toxic type, or "down".
	Kind() string
	// String describes the fault in a report ("latency 200ms ± 0s").
	String() string
	// toxic is what to add to the proxy; ok=false for faults that are not
	// toxics (down).
	toxic() (t toxiclient.Toxic, ok bool)
	// check compares a probe through the faulty proxy with the probe before
	// the fault and says whether the fault is visible, with the measured
	// value in words. probeTimeout bounds the probe.
	check(before, after ProbeResult) (measured string, realised bool)
	probeTimeout() time.Duration
}

// Stream says which direction a toxic acts on (toxiproxy's stream).
type Stream string

const (
	StreamDownstream Stream = "downstream" // upstream -> client (responses); toxiproxy's default
	StreamUpstream   Stream = "upstream"   // client -> upstream (requests)
)

func streamOr(s Stream) string {
	if s == "" {
		return string(StreamDownstream)
	}
	return string(s)
}

func ms(d time.Duration) int64 { return d.Milliseconds() }
