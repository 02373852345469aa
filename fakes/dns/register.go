package dns

import (
	"github.com/chaoslab/chaoslab/fakes"
)

// Fake names the fake Config configures (fakes.Config).
func (Config) Fake() string { return "dns" }

func init() {
	fakes.RegisterConfig("authoritative DNS for the lab's names (A/AAAA, NXDOMAIN otherwise) with latency and a query log", Start)
}
