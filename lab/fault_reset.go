package lab

import (
	"fmt"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"
)

// ResetPeer answers with a TCP RST after Timeout (toxiproxy "reset_peer");
// Timeout 0 resets as soon as data arrives.
type ResetPeer struct {
	Timeout time.Duration
	Stream  Stream
}

func (f ResetPeer) Kind() string   { return "reset_peer" }
func (f ResetPeer) String() string { return fmt.Sprintf("reset_peer after %s", f.Timeout) }
func (f ResetPeer) toxic() (toxiclient.Toxic, bool) {
	return toxiclient.Toxic{Type: "reset_peer", Stream: streamOr(f.Stream), Toxicity: 1,
		Attributes: toxiclient.Attributes{"timeout": ms(f.Timeout)}}, true
}
func (f ResetPeer) check(_, after ProbeResult) (string, bool) {
	return "probe: " + after.String(), after.Err != nil
}
func (f ResetPeer) probeTimeout() time.Duration { return f.Timeout + 2*time.Second }
