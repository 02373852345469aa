package upstream

import (
	"github.com/chaoslab/chaoslab/fakes"
)

// Fake names the fake Config configures (fakes.Config).
func (Config) Fake() string { return "upstream" }

func init() {
	fakes.RegisterConfig("HTTP(S) upstream with latency, status, body and failure modes per path", Start)
}
