package imds

import (
	"github.com/chaoslab/chaoslab/fakes"
)

// Fake names the fake Config configures (fakes.Config).
func (Config) Fake() string { return "imds" }

func init() {
	fakes.RegisterConfig("EC2 instance metadata service (IMDSv1/v2) with rolling credentials of a chosen lifetime", Start)
}
