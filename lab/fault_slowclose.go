package lab

import (
	"fmt"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"
)

// SlowClose delays the TCP close by Delay (toxiproxy "slow_close").
type SlowClose struct {
	Delay  time.Duration
	Stream Stream
}

func (f SlowClose) Kind() string   { return "slow_close" }
func (f SlowClose) String() string { return fmt.Sprintf("slow_close %s", f.Delay) }
func (f SlowClose) toxic() (toxiclient.Toxic, bool) {
	return toxiclient.Toxic{Type: "slow_close", Stream: streamOr(f.Stream), Toxicity: 1,
		Attributes: toxiclient.Attributes{"delay": ms(f.Delay)}}, true
}

// An HTTP client reads a Content-Length body and never waits for the close,
// so the probe can only show traffic still flows; the report says so.
func (f SlowClose) check(_, after ProbeResult) (string, bool) {
	return "not observable by an HTTP probe; traffic still flows: " + after.String(), after.Err == nil
}
func (f SlowClose) probeTimeout() time.Duration { return 2 * time.Second }
