package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
)

// removeByLabel force-removes every container, then every network, carrying
// label (key=value) and returns what it removed as "container NAME" /
// "network NAME".
func removeByLabel(ctx context.Context, cli *client.Client, label string) ([]string, error) {
	f := filters.NewArgs(filters.Arg("label", label))
	var removed []string
	var errs []error
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("docker: list containers %s: %w", label, err)
	}
	for _, c := range cs {
		err := cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, "container "+containerName(c))
	}
	ns, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		return removed, errors.Join(append(errs, fmt.Errorf("docker: list networks %s: %w", label, err))...)
	}
	for _, n := range ns {
		if err := cli.NetworkRemove(ctx, n.ID); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, "network "+n.Name)
	}
	return removed, errors.Join(errs...)
}

func containerName(c container.Summary) string {
	if len(c.Names) > 0 {
		return strings.TrimPrefix(c.Names[0], "/")
	}
	return c.ID[:12]
}

// DockerCleanupLeftovers removes the containers and networks of docker labs
// whose process is gone: those labelled with this host's name and a pid that
// is not alive. A lab's Close removes its own; leftovers come from a process
// killed without a chance to run it (SIGKILL, a crashed test binary). Runs of
// live processes and of other hosts sharing the daemon are left alone.
func DockerCleanupLeftovers(ctx context.Context) (removed []string, err error) {
	cli, err := dockerClient(ctx)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	runs, err := deadRuns(ctx, cli)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, run := range runs {
		r, err := removeByLabel(ctx, cli, dockerLabelRun+"="+run)
		for _, x := range r {
			removed = append(removed, x+" (run "+run+")")
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return removed, errors.Join(errs...)
}

// deadRuns lists the run ids on this host whose pid is gone.
func deadRuns(ctx context.Context, cli *client.Client) ([]string, error) {
	host, _ := os.Hostname()
	f := filters.NewArgs(filters.Arg("label", dockerLabelRun), filters.Arg("label", dockerLabelHost+"="+host))
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("docker: list containers: %w", err)
	}
	ns, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("docker: list networks: %w", err)
	}
	labelSets := make([]map[string]string, 0, len(cs)+len(ns))
	for _, c := range cs {
		labelSets = append(labelSets, c.Labels)
	}
	for _, n := range ns {
		labelSets = append(labelSets, n.Labels)
	}
	dead := map[string]bool{}
	for _, l := range labelSets {
		if !pidAlive(l[dockerLabelPID]) {
			dead[l[dockerLabelRun]] = true
		}
	}
	out := make([]string, 0, len(dead))
	for r := range dead {
		out = append(out, r)
	}
	sort.Strings(out)
	return out, nil
}

// pidAlive: signal 0 reaches the process (EPERM: it exists, owned by
// someone else).
func pidAlive(s string) bool {
	pid, err := strconv.Atoi(s)
	if err != nil || pid <= 0 {
		return false
	}
	err = syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
