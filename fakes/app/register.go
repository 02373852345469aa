package app

import (
	"github.com/chaoslab/chaoslab/fakes"
)

// Fake names the fake Config configures (fakes.Config).
func (Config) Fake() string { return "app" }

func init() {
	fakes.RegisterConfig("microservice that gets AWS credentials from the IMDS (aws-sdk-go-v2, named refresh rule) and calls a dependency per request", Start)
}
