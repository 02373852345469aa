package docker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/chaoslab/chaoslab/fakes"

	"github.com/chaoslab/chaoslab/lab/internal/lines"
)

// dockerService is one running container: its URL as the host reaches it,
// its info lines, and its stdout and stderr as separate line streams.
type dockerService struct {
	name      string
	c         testcontainers.Container
	out, err  *lines.Buffer
	url       string
	outer     *strings.Replacer // bridge mode: container addresses -> published ones
	fixedInfo map[string]string // info the backend knows itself (real Kong)
	closers   []func() error    // in-process helpers in front of it (bridge mode)

	closeOnce sync.Once
	closeErr  error
}

func (s *dockerService) URL() string      { return s.url }
func (s *dockerService) Stdout() []string { return s.out.Lines() }
func (s *dockerService) Stderr() []string { return s.err.Lines() }

// Info is the start-up report the fake printed on the container's stdout
// (fakes.Ready), with container addresses mapped to published ones.
func (s *dockerService) Info() map[string]string {
	if s.fixedInfo != nil {
		return maps.Clone(s.fixedInfo)
	}
	r, _, _ := fakes.ParseReady(s.out.Lines()) // readiness waited for it
	out := make(map[string]string, len(r.Info))
	for k, v := range r.Info {
		if s.outer != nil {
			v = s.outer.Replace(v)
		}
		out[k] = v
	}
	return out
}

// Close stops the container (SIGTERM: the chaoslab binary and toxiproxy
// exit at once; Kong gets a short grace) and removes it.
func (s *dockerService) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		for _, c := range s.closers {
			errs = append(errs, c())
		}
		if s.c != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := s.c.Terminate(ctx, testcontainers.StopTimeout(3*time.Second)); err != nil {
				errs = append(errs, fmt.Errorf("container %s: %w", s.name, err))
			}
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// lineSink feeds a container's log frames into the stdout and stderr buffers.
type lineSink struct{ out, err *lines.Buffer }

func (l lineSink) Accept(log testcontainers.Log) {
	if log.LogType == testcontainers.StderrLog {
		_, _ = l.err.Write(log.Content)
		return
	}
	_, _ = l.out.Write(log.Content)
}

// quietLogger keeps testcontainers' progress lines out of scenario output.
type quietLogger struct{}

func (quietLogger) Printf(string, ...any) {}

// containerSpec is what differs between the lab's containers.
type containerSpec struct {
	component string // fake name, "toxiproxy", "kong"
	image     string
	cmd       []string
	env       map[string]string
	user      string   // "" = the image's
	publish   []int    // bridge mode: container ports published on 127.0.0.1
	binds     []string // host:container[:ro]
	hosts     []string // extra /etc/hosts lines, "name:ip"
	ready     func(ctx context.Context, s *dockerService, t wait.StrategyTarget) (bool, error)
	timeout   time.Duration
}

// start runs a container for spec on the run's network and waits until
// spec.ready says so (or the container exits: the error carries its stderr).
func (d *docker) start(ctx context.Context, spec containerSpec) (*dockerService, error) {
	name := d.nextName(spec.component)
	s := &dockerService{name: name, out: lines.New(10000), err: lines.New(10000)}
	req := d.request(name, spec, s)
	if err := d.track(s); err != nil {
		return nil, err
	}
	c, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{
		ContainerRequest: req, Started: true, Logger: quietLogger{},
	})
	s.c = c // also on error: a container that failed to get ready is removed
	if err != nil {
		err = fmt.Errorf("%s container: %w%s", spec.component, err, tail(" stderr: ", s.err.Lines(), 5))
		_ = s.Close()
		return nil, err
	}
	if len(spec.publish) > 0 {
		published, err := publishedPorts(ctx, c, spec.publish)
		if err != nil {
			_ = s.Close()
			return nil, err
		}
		s.outer = outerReplacer(published)
		s.url = s.outer.Replace(s.url)
		alias := aliasOf(name)
		for in, out := range published {
			d.net.addrs.add("127.0.0.1:"+strconv.Itoa(out), alias+":"+strconv.Itoa(in))
		}
	}
	return s, nil
}

// request builds the testcontainers request; split out so tests can check
// it without a daemon.
func (d *docker) request(name string, spec containerSpec, s *dockerService) testcontainers.ContainerRequest {
	labels := d.labels()
	labels["chaoslab.component"] = spec.component
	req := testcontainers.ContainerRequest{
		Name:   name,
		Image:  spec.image,
		Cmd:    spec.cmd,
		Env:    spec.env,
		Labels: labels,
		ConfigModifier: func(c *container.Config) {
			c.User = spec.user
		},
		HostConfigModifier: func(hc *container.HostConfig) {
			hc.Binds = spec.binds
			hc.ExtraHosts = spec.hosts
			if d.net.mode == netHost {
				hc.NetworkMode = "host"
				hc.PortBindings = nil
				return
			}
			hc.PortBindings = nat.PortMap{}
			for _, p := range spec.publish {
				hc.PortBindings[nat.Port(strconv.Itoa(p)+"/tcp")] = []nat.PortBinding{{HostIP: "127.0.0.1"}}
			}
		},
	}
	if d.net.mode == netHost {
		// Host networking joins no other network; testcontainers adds its
		// default one (reaper_default where dockerd runs with --bridge=none).
		req.EndpointSettingsModifier = func(m map[string]*network.EndpointSettings) { clear(m) }
	}
	if s != nil {
		req.LogConsumerCfg = &testcontainers.LogConsumerConfig{Consumers: []testcontainers.LogConsumer{lineSink{s.out, s.err}}}
		req.WaitingFor = readyWait{s: s, ready: spec.ready, timeout: spec.timeout}
	}
	if d.net.mode == netBridge {
		req.Networks = []string{"chaoslab-" + d.run}
		req.NetworkAliases = map[string][]string{"chaoslab-" + d.run: {aliasOf(name)}}
		for _, p := range spec.publish {
			req.ExposedPorts = append(req.ExposedPorts, strconv.Itoa(p)+"/tcp")
		}
	}
	return req
}

// aliasOf is a container's name on the run's network: the component and its
// sequence number ("upstream-1"), without the run id.
func aliasOf(name string) string {
	parts := strings.SplitN(name, "-", 3)
	if len(parts) < 3 {
		return name
	}
	return parts[2]
}

func publishedPorts(ctx context.Context, c testcontainers.Container, ports []int) (map[int]int, error) {
	out := map[int]int{}
	for _, p := range ports {
		mp, err := c.MappedPort(ctx, nat.Port(strconv.Itoa(p)+"/tcp"))
		if err != nil {
			return nil, fmt.Errorf("published port for %d: %w", p, err)
		}
		out[p] = mp.Int()
	}
	return out, nil
}

// readyWait polls a readiness check (a log line in our buffer, an HTTP
// endpoint) and fails fast, with the container's stderr, when it exits.
type readyWait struct {
	s       *dockerService
	ready   func(ctx context.Context, s *dockerService, t wait.StrategyTarget) (bool, error)
	timeout time.Duration
}

func (w readyWait) WaitUntilReady(ctx context.Context, t wait.StrategyTarget) error {
	timeout := w.timeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := w.ready(ctx, w.s, t)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		st, err := t.State(ctx)
		if err == nil && !st.Running {
			return fmt.Errorf("exited with code %d%s", st.ExitCode, tail(": ", w.s.err.Lines(), 5))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready after %s: %w%s", timeout, ctx.Err(), tail(" stderr: ", w.s.err.Lines(), 5))
		case <-tick.C:
		}
	}
}

// listeningReady is ready once the fake printed its start-up report
// (fakes.Ready, the line after "listening on <url>"); its URL becomes the
// service's.
func listeningReady(_ context.Context, s *dockerService, _ wait.StrategyTarget) (bool, error) {
	r, ok, err := fakes.ParseReady(s.out.Lines())
	if ok {
		s.url = r.URL
	}
	return ok, err
}

func tail(prefix string, lines []string, n int) string {
	if len(lines) == 0 {
		return ""
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return prefix + strings.Join(lines, " | ")
}
