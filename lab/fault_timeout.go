package lab

import (
	"fmt"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"
)

// Timeout stops all data (toxiproxy "timeout"). With Timeout 0 the
// connection stays open and silent forever — the upstream that "never
// answers"; otherwise it is closed after Timeout.
type Timeout struct {
	Timeout time.Duration
	Stream  Stream
}

func (f Timeout) Kind() string   { return "timeout" }
func (f Timeout) String() string { return fmt.Sprintf("timeout %s (0 = silent forever)", f.Timeout) }
func (f Timeout) toxic() (toxiclient.Toxic, bool) {
	return toxiclient.Toxic{Type: "timeout", Stream: streamOr(f.Stream), Toxicity: 1,
		Attributes: toxiclient.Attributes{"timeout": ms(f.Timeout)}}, true
}
func (f Timeout) check(_, after ProbeResult) (string, bool) {
	return "probe: " + after.String(), after.Err != nil
}
func (f Timeout) probeTimeout() time.Duration {
	if f.Timeout == 0 {
		return 300 * time.Millisecond
	}
	return f.Timeout + 2*time.Second
}
