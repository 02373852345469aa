package docker

import (
	"context"
	"fmt"
	"os"

	"github.com/chaoslab/chaoslab/fakes"
	"github.com/chaoslab/chaoslab/fakes/lb"

	"github.com/chaoslab/chaoslab/lab"
)

// StartFake runs `chaoslab fake NAME args...` in the chaoslab image. The lab
// directory is mounted at the same path, so paths in args (certificates,
// configs) mean the same inside, and the container runs as this user, so
// what it writes there is removed with the directory.
func (d *docker) StartFake(ctx context.Context, cfg fakes.Config) (lab.Service, error) {
	name := cfg.Fake()
	cfg = d.onNetwork(cfg)
	s, err := d.start(ctx, d.chaoslabSpec(name, append([]string{"fake", name}, cfg.Args()...)))
	if err != nil {
		return nil, fmt.Errorf("fake %s: %w", name, err)
	}
	return s, nil
}

// onNetwork adapts a fake's config to the container network: on a bridge,
// the LB reaches the gateway's container by alias, off loopback.
func (d *docker) onNetwork(cfg fakes.Config) fakes.Config {
	if c, ok := cfg.(lb.Config); ok && d.net.mode == netBridge {
		c.AllowNonLoopback = true
		return c
	}
	return cfg
}

// chaoslabSpec is a container of the chaoslab image running cmd. In bridge
// mode, each 127.0.0.1:0 listen argument becomes a fixed container port
// published on 127.0.0.1, and addresses of other containers become aliases.
func (d *docker) chaoslabSpec(component string, cmd []string) containerSpec {
	spec := containerSpec{
		component: component,
		image:     d.image,
		cmd:       cmd,
		user:      fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid()),
		binds:     []string{d.lab.Dir() + ":" + d.lab.Dir()},
		ready:     listeningReady,
	}
	if d.net.mode == netBridge {
		spec.cmd, spec.publish = bridgeListenArgs(cmd, d.net.addrs)
	}
	return spec
}
