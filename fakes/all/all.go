// Package all registers every fake: the one list of fake packages. The lab
// (its embedded backend), the CLI and container entrypoints import it, so a
// new fake is its own package plus one line here.
package all

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
