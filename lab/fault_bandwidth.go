package lab

import (
	"fmt"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"
)

// Bandwidth limits the rate to RateKB kilobytes per second (toxiproxy
// "bandwidth").
type Bandwidth struct {
	RateKB int64
	Stream Stream
}

func (f Bandwidth) Kind() string   { return "bandwidth" }
func (f Bandwidth) String() string { return fmt.Sprintf("bandwidth %d KB/s", f.RateKB) }
func (f Bandwidth) toxic() (toxiclient.Toxic, bool) {
	return toxiclient.Toxic{Type: "bandwidth", Stream: streamOr(f.Stream), Toxicity: 1,
		Attributes: toxiclient.Attributes{"rate": f.RateKB}}, true
}

// The probe asks for a body of one second's worth of data; at the limited
// rate that takes about a second, so it must take at least half of one.
func (f Bandwidth) check(before, after ProbeResult) (string, bool) {
	return fmt.Sprintf("probe of %d bytes: %s -> %s", after.Bytes, before.Latency.Round(time.Millisecond),
		after.Latency.Round(time.Millisecond)), after.Err == nil && after.Latency >= 500*time.Millisecond
}
func (f Bandwidth) probeTimeout() time.Duration { return 5 * time.Second }
func (f Bandwidth) probeBody() int              { return int(f.RateKB * 1024) }
