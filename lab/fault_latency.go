package lab

import (
	"fmt"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"
)

// Latency delays data by Latency ± Jitter (toxiproxy "latency").
type Latency struct {
	Latency, Jitter time.Duration
	Stream          Stream
}

func (f Latency) Kind() string { return "latency" }
func (f Latency) String() string {
	return fmt.Sprintf("latency %s ± %s (%s)", f.Latency, f.Jitter, streamOr(f.Stream))
}
func (f Latency) toxic() (toxiclient.Toxic, bool) {
	return toxiclient.Toxic{Type: "latency", Stream: streamOr(f.Stream), Toxicity: 1,
		Attributes: toxiclient.Attributes{"latency": ms(f.Latency), "jitter": ms(f.Jitter)}}, true
}

// A latency fault is realised when the probe got slower by at least 80% of
// the configured latency minus the jitter.
func (f Latency) check(before, after ProbeResult) (string, bool) {
	added := after.Latency - before.Latency
	want := (f.Latency - f.Jitter) * 8 / 10
	return fmt.Sprintf("probe latency %s -> %s (+%s, want >= +%s)",
		before.Latency.Round(100*time.Microsecond), after.Latency.Round(100*time.Microsecond),
		added.Round(100*time.Microsecond), want), after.Err == nil && added >= want
}
func (f Latency) probeTimeout() time.Duration { return 2*(f.Latency+f.Jitter) + 2*time.Second }
