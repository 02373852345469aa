package docker

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
	"github.com/docker/docker/api/types/image"
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

// CleanupLeftovers removes the containers and networks of docker labs
// whose process is gone: those labelled with this host's name and a pid that
// is not alive. A lab's Close removes its own; leftovers come from a process
// killed without a chance to run it (SIGKILL, a crashed test binary). Runs of
// live processes and of other hosts sharing the daemon are left alone.
func CleanupLeftovers(ctx context.Context) (removed []string, err error) {
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

// PruneImages removes the images the docker backend built (label
// chaoslab.image) that no container uses, except the newest of each
// repository: every change to the source makes a new content-hash tag, and
// old ones would pile up (`chaoslab cleanup -images`).
func PruneImages(ctx context.Context) (removed []string, err error) {
	cli, err := dockerClient(ctx)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	return pruneImages(ctx, cli, "", 1)
}

// keepBuilt is how many images of a repository a build leaves behind: the
// one just built and two before it, which other checkouts (another branch,
// a colleague on the same daemon) may be about to start.
const keepBuilt = 3

// pruneImages removes the images of repo (every repository the backend
// builds when repo is "") that no container uses, except the keep newest of
// each repository.
func pruneImages(ctx context.Context, cli *client.Client, repo string, keep int) (removed []string, err error) {
	label := "chaoslab.image"
	if repo != "" {
		label += "=" + repo
	}
	imgs, err := cli.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("label", label))})
	if err != nil {
		return nil, fmt.Errorf("docker: list images: %w", err)
	}
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true})
	if err != nil {
		return nil, fmt.Errorf("docker: list containers: %w", err)
	}
	used := map[string]bool{}
	for _, c := range cs {
		used[c.ImageID] = true
	}
	sort.SliceStable(imgs, func(i, j int) bool { return imgs[i].Created > imgs[j].Created })
	kept := map[string]int{}
	var errs []error
	for _, im := range imgs {
		r := im.Labels["chaoslab.image"]
		if kept[r] < keep {
			kept[r]++
			continue
		}
		if used[im.ID] {
			continue
		}
		if _, err := cli.ImageRemove(ctx, im.ID, image.RemoveOptions{PruneChildren: true}); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, err)
			continue
		}
		name := im.ID
		if len(im.RepoTags) > 0 {
			name = strings.Join(im.RepoTags, ",")
		}
		removed = append(removed, "image "+name)
	}
	return removed, errors.Join(errs...)
}

// DeadRuns lists the run ids of this host whose process is gone and
// whose containers or networks are still there (what CleanupLeftovers
// would remove), for `chaoslab doctor`.
func DeadRuns(ctx context.Context) ([]string, error) {
	cli, err := dockerClient(ctx)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	return deadRuns(ctx, cli)
}
