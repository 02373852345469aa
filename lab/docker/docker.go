// Package docker is the lab backend that runs every component in a
// container (testcontainers-go): the fakes from the chaoslab image, real Kong
// when its image is on the machine, toxiproxy. It registers itself as
// BACKEND=docker when imported; package lab keeps only the Backend interface,
// so importing lab alone does not pull testcontainers-go into a binary.
package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"

	"github.com/chaoslab/chaoslab/lab"
)

// Name is the backend name BACKEND=docker selects.
const Name = "docker"

// Labels on every container and network a docker lab creates. Close removes
// them by label; `chaoslab cleanup` removes those of runs whose process is gone
// (a SIGKILLed test binary), which is why the pid and host are recorded too.
const (
	dockerLabelRun  = "chaoslab.run"
	dockerLabelPID  = "chaoslab.pid"
	dockerLabelHost = "chaoslab.host"
)

// ErrUnavailable is returned (wrapped) by the docker backend when no
// daemon answers; tests skip with its message.
var ErrUnavailable = errors.New("docker daemon not reachable: run scripts/dockerd.sh (installs docker.io and starts dockerd)")

// ryukImage is the reaper testcontainers-go v0.40.0 starts unless disabled
// (its internal config.ReaperDefaultImage). No registry is reachable on the
// lab machines, so when it is not already local the backend disables Ryuk and
// removes everything itself, by label.
const ryukImage = "testcontainers/ryuk:0.13.0"

func init() { lab.RegisterBackend(Name, newDocker) }

// docker runs each component as a container (testcontainers-go): the fakes
// and the gateway emulation from an image of this module's own static binary,
// toxiproxy's real server from an image built here, and real Kong when its
// image is present. Every image is built FROM scratch, so nothing is pulled.
type docker struct {
	lab   *lab.Lab
	cli   *client.Client
	run   string // run id, the value of chaoslab.run
	net   dockerNet
	kong  string // Kong image; "" when not present locally
	image string // chaoslab:<hash>

	toxiMu  sync.Mutex // held while toxiproxy starts: one per lab
	toxiURL string

	mu         sync.Mutex
	seq        int
	services   []*dockerService
	toxiBridge *toxiTranslator
	network    string // bridge mode: the run's network id
	closed     bool
}

func newDocker(ctx context.Context, l *lab.Lab) (lab.Backend, error) {
	mode, err := dockerNetModeFromEnv()
	if err != nil {
		return nil, err
	}
	cli, err := dockerClient(ctx)
	if err != nil {
		return nil, err
	}
	d := &docker{lab: l, cli: cli, run: newRunID(), net: dockerNet{mode: mode, addrs: newAddrMap()}}
	fail := func(err error) (lab.Backend, error) { _ = d.Close(); return nil, err }
	if err := disableRyukUnlessLocal(ctx, cli); err != nil {
		return fail(err)
	}
	if d.image, err = chaoslabImage(ctx, cli, l.Dir()); err != nil {
		return fail(err)
	}
	for _, name := range kongImageNames() {
		if lab.GatewayChoice() != "emulation" && imageExists(ctx, cli, name) {
			d.kong = name
			break
		}
	}
	if mode == netBridge {
		resp, err := cli.NetworkCreate(ctx, "chaoslab-"+d.run, network.CreateOptions{
			Driver: "bridge", Labels: d.labels(),
		})
		if err != nil {
			return fail(fmt.Errorf("docker network: %w", err))
		}
		d.network = resp.ID
		if ni, err := cli.NetworkInspect(ctx, resp.ID, network.InspectOptions{}); err == nil && len(ni.IPAM.Config) > 0 {
			d.net.subnet = ni.IPAM.Config[0].Subnet
		}
	}
	return d, nil
}

// dockerClient connects to the daemon DOCKER_HOST names (default the local
// socket) and checks it answers.
func dockerClient(ctx context.Context) (*client.Client, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("%w (%v)", ErrUnavailable, err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx); err != nil {
		_ = cli.Close()
		return nil, fmt.Errorf("%w (%v)", ErrUnavailable, err)
	}
	return cli, nil
}

// disableRyukUnlessLocal turns testcontainers' reaper off when its image is
// not on this machine: starting it would try a registry that is unreachable.
// testcontainers reads the variable once per process, on first use, which
// comes after this.
func disableRyukUnlessLocal(ctx context.Context, cli *client.Client) error {
	if _, set := os.LookupEnv("TESTCONTAINERS_RYUK_DISABLED"); set {
		return nil
	}
	if imageExists(ctx, cli, ryukImage) {
		return nil
	}
	return os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
}

func imageExists(ctx context.Context, cli *client.Client, ref string) bool {
	_, err := cli.ImageInspect(ctx, ref)
	return err == nil
}

// kongImageNames are the real Kong images to use, in order: CHAOSLAB_KONG_IMAGE,
// else kong:3.9, else the one `make kong` builds offline.
func kongImageNames() []string {
	if v := os.Getenv("CHAOSLAB_KONG_IMAGE"); v != "" {
		return []string{v}
	}
	return []string{"kong:3.9", "chaoslab/kong:3.9.1-local"}
}

func newRunID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (d *docker) labels() map[string]string {
	host, _ := os.Hostname()
	return map[string]string{
		dockerLabelRun:  d.run,
		dockerLabelPID:  strconv.Itoa(os.Getpid()),
		dockerLabelHost: host,
	}
}

// RunID is the value of the chaoslab.run label on this lab's containers.
func (d *docker) RunID() string { return d.run }

// NetworkMode is "host" or "bridge".
func (d *docker) NetworkMode() string { return string(d.net.mode) }

func (d *docker) Name() string { return Name }

func (d *docker) Has(c lab.Capability) bool {
	switch c {
	case lab.CapContainers, lab.CapGatewayEmulation:
		return true
	case lab.CapRealKong:
		return d.kong != ""
	}
	return false
}

func (d *docker) nextName(component string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.seq++
	return fmt.Sprintf("chaoslab-%s-%s-%d", d.run, component, d.seq)
}

func (d *docker) track(s *dockerService) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errors.New("docker backend: closed")
	}
	d.services = append(d.services, s)
	return nil
}

// Close terminates every container of the run and its network. It uses its
// own context: it runs after Ctrl-C cancelled the lab's. Containers whose
// creation was cut short (no handle) are found by label.
func (d *docker) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	services := d.services
	d.services = nil
	toxiBridge := d.toxiBridge
	d.mu.Unlock()

	var errs []error
	if toxiBridge != nil {
		if err := toxiBridge.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	var wg sync.WaitGroup
	errc := make(chan error, len(services))
	for _, s := range services {
		wg.Add(1)
		go func() { defer wg.Done(); errc <- s.Close() }()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if d.cli != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := removeByLabel(ctx, d.cli, dockerLabelRun+"="+d.run); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, err)
		}
		errs = append(errs, d.cli.Close())
	}
	return errors.Join(errs...)
}
