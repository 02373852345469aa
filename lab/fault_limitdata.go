package lab

import (
	"fmt"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"
)

// LimitData closes the connection after Bytes bytes (toxiproxy "limit_data").
type LimitData struct {
	Bytes  int64
	Stream Stream
}

func (f LimitData) Kind() string   { return "limit_data" }
func (f LimitData) String() string { return fmt.Sprintf("limit_data %d bytes", f.Bytes) }
func (f LimitData) toxic() (toxiclient.Toxic, bool) {
	return toxiclient.Toxic{Type: "limit_data", Stream: streamOr(f.Stream), Toxicity: 1,
		Attributes: toxiclient.Attributes{"bytes": f.Bytes}}, true
}

// The probe asks for twice the limit, so a realised fault cuts it short.
func (f LimitData) check(_, after ProbeResult) (string, bool) {
	return "probe: " + after.String(), after.Err != nil || int64(after.Bytes) < 2*f.Bytes
}
func (f LimitData) probeTimeout() time.Duration { return 2 * time.Second }
func (f LimitData) probeBody() int              { return int(2 * f.Bytes) }
