package lb

import (
	"github.com/chaoslab/chaoslab/fakes"
)

// Fake names the fake Config configures (fakes.Config).
func (Config) Fake() string { return "lb" }

func init() {
	fakes.RegisterConfig("F5/Cloudflare-style HTTP hop: strip Authorization or other headers, rewrite Host, X-Forwarded-For/-Proto, retry timed-out tries, re-frame bodies; changeable at run time", Start)
}
