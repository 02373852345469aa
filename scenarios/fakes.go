package scenarios

// The fakes the catalog starts by name must be registered in any binary that
// runs scenarios (the Ginkgo suite, the CLI's lab up).
import (
	_ "github.com/chaoslab/chaoslab/fakes/app"
	_ "github.com/chaoslab/chaoslab/fakes/dns"
	_ "github.com/chaoslab/chaoslab/fakes/imds"
	_ "github.com/chaoslab/chaoslab/fakes/kong"
	_ "github.com/chaoslab/chaoslab/fakes/lb"
	_ "github.com/chaoslab/chaoslab/fakes/mitm"
	_ "github.com/chaoslab/chaoslab/fakes/tokens"
	_ "github.com/chaoslab/chaoslab/fakes/upstream"
)
