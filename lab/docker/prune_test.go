package docker

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
)

// A build leaves the newest images of its repository and any image a
// container uses; older ones go, and other repositories are not touched.
func TestPruneImagesKeepsNewestAndUsed(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel) // cleanups run last in, first out: this one after those below
	cli, err := dockerClient(ctx)
	if err != nil {
		t.Skip(ErrUnavailable.Error())
	}
	t.Cleanup(func() { cli.Close() })
	const repo = "chaoslab-prune-test"
	const other = "chaoslab-prune-test-other"
	ids := func(r string) []string {
		imgs, err := cli.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("label", "chaoslab.image="+r))})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, im := range imgs {
			out = append(out, im.ID)
		}
		return out
	}
	removeAll := func() {
		for _, r := range []string{repo, other} {
			for _, id := range ids(r) {
				_, _ = cli.ImageRemove(ctx, id, image.RemoveOptions{Force: true, PruneChildren: true})
			}
		}
	}
	removeAll()
	t.Cleanup(removeAll)

	build := func(r string, i int) string {
		ref := fmt.Sprintf("%s:%d", r, i)
		if err := buildScratchImage(ctx, cli, ref, "bin", []byte(fmt.Sprintf("image %d %d", i, time.Now().UnixNano()))); err != nil {
			t.Fatal(err)
		}
		ins, err := cli.ImageInspect(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		return ins.ID
	}
	var built []string // oldest first; image times are in seconds
	for i := range 4 {
		built = append(built, build(repo, i))
		time.Sleep(1100 * time.Millisecond)
	}
	otherID := build(other, 0)
	c, err := cli.ContainerCreate(ctx, &container.Config{Image: built[1]}, nil, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}) })

	removed, err := pruneImages(ctx, cli, repo, 2)
	if err != nil {
		t.Fatal(err)
	}
	left := ids(repo)
	for i, id := range built {
		want := i != 0 // 0: old and unused; 1: used by a container; 2, 3: the newest two
		if got := slices.Contains(left, id); got != want {
			t.Errorf("image %d (%s) left: %v, want %v; removed %v", i, id, got, want, removed)
		}
	}
	if len(removed) != 1 {
		t.Errorf("removed %v, want the one old unused image", removed)
	}
	if !slices.Contains(ids(other), otherID) {
		t.Error("pruning one repository removed another's image")
	}
}
