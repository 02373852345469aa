package lab

import (
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"
)

// Down disables the proxy: its port refuses connections. It is not a toxic
// in toxiproxy; it is the proxy's enabled flag.
type Down struct{}

func (Down) Kind() string                    { return "down" }
func (Down) String() string                  { return "down (connection refused)" }
func (Down) toxic() (toxiclient.Toxic, bool) { return toxiclient.Toxic{}, false }
func (Down) check(_, after ProbeResult) (string, bool) {
	return "probe: " + after.String(), after.Err != nil
}
func (Down) probeTimeout() time.Duration { return 2 * time.Second }
