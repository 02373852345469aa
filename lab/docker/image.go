package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
)

// The images the docker backend runs are built here, FROM scratch, from Go
// packages compiled with CGO_ENABLED=0: no registry is reachable on the lab
// machines, and a static binary needs nothing else in the image.
//
// Builds go through the Docker API directly (ImageBuild with an in-memory
// two-file context) rather than testcontainers' FromDockerfile: FromDockerfile
// builds once per container request under a random tag, while we want one
// image per binary content, tagged by its hash, so an unchanged binary is
// never rebuilt and every container of every lab reuses it.
type imageRecipe struct {
	repo    string // image repository, tagged with the binary's content hash
	pkg     string // Go package to build, from the chaoslab module
	binName string // file name inside the image
}

var (
	chaoslabRecipe  = imageRecipe{repo: "chaoslab", pkg: "./cmd/chaoslab", binName: "chaoslab"}
	toxiproxyRecipe = imageRecipe{repo: "chaoslab-toxiproxy", pkg: "github.com/Shopify/toxiproxy/v2/cmd/server", binName: "toxiproxy"}
)

// built caches image references per recipe for the life of the process: the
// binaries are compiled once per run (a `make scenario` is one process).
var built struct {
	sync.Mutex
	refs map[string]string
}

func chaoslabImage(ctx context.Context, cli *client.Client, workDir string) (string, error) {
	return ensureImage(ctx, cli, chaoslabRecipe, workDir)
}

func toxiproxyImage(ctx context.Context, cli *client.Client, workDir string) (string, error) {
	return ensureImage(ctx, cli, toxiproxyRecipe, workDir)
}

func ensureImage(ctx context.Context, cli *client.Client, r imageRecipe, workDir string) (string, error) {
	built.Lock()
	defer built.Unlock()
	if ref, ok := built.refs[r.repo]; ok {
		return ref, nil
	}
	dir, err := os.MkdirTemp(workDir, "image-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, r.binName)
	if err := goBuildStatic(ctx, r.pkg, bin); err != nil {
		return "", err
	}
	content, err := os.ReadFile(bin)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(content)
	ref := r.repo + ":" + hex.EncodeToString(sum[:])[:16]
	if !imageExists(ctx, cli, ref) {
		if err := buildScratchImage(ctx, cli, ref, r.binName, content); err != nil {
			return "", err
		}
		// Each source change tags a new image (88 MB for chaoslab): keep the
		// last few, so a developer's daemon does not fill up. Best effort:
		// what is left, `chaoslab cleanup -images` removes.
		_, _ = pruneImages(ctx, cli, r.repo, keepBuilt)
	}
	if built.refs == nil {
		built.refs = map[string]string{}
	}
	built.refs[r.repo] = ref
	return ref, nil
}

// goBuildStatic compiles pkg from the chaoslab module (so toxiproxy's server
// is the version go.mod pins) into a static binary.
func goBuildStatic(ctx context.Context, pkg, out string) error {
	dir, err := moduleDir(ctx)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s for its image: %w: %s", pkg, err, strings.TrimSpace(string(b)))
	}
	return nil
}

// moduleDir is the chaoslab checkout the images are built from: CHAOSLAB_SOURCE,
// or the module of the working directory (tests and `make` run inside it).
func moduleDir(ctx context.Context) (string, error) {
	dir := os.Getenv("CHAOSLAB_SOURCE")
	if dir == "" {
		out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
		if err != nil {
			return "", fmt.Errorf("docker backend: images are built from the chaoslab source with the go tool: %w", err)
		}
		dir = filepath.Dir(strings.TrimSpace(string(out)))
	}
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil || !bytes.Contains(b, []byte("module github.com/chaoslab/chaoslab\n")) {
		return "", fmt.Errorf("docker backend: %s is not the chaoslab module: run inside the checkout or set CHAOSLAB_SOURCE", dir)
	}
	return dir, nil
}

// scratchDockerfile is the whole image: one static binary as the entrypoint.
func scratchDockerfile(binName string) string {
	return fmt.Sprintf("FROM scratch\nCOPY %s /%s\nENTRYPOINT [\"/%s\"]\n", binName, binName, binName)
}

func buildScratchImage(ctx context.Context, cli *client.Client, ref, binName string, bin []byte) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		mode int64
		body []byte
	}{
		{"Dockerfile", 0o644, []byte(scratchDockerfile(binName))},
		{binName, 0o755, bin},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.body))}); err != nil {
			return err
		}
		if _, err := tw.Write(f.body); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	resp, err := cli.ImageBuild(ctx, &buf, build.ImageBuildOptions{
		Tags: []string{ref}, Remove: true, ForceRemove: true, Version: build.BuilderV1,
		Labels: map[string]string{"chaoslab.image": strings.SplitN(ref, ":", 2)[0]},
	})
	if err != nil {
		return fmt.Errorf("docker build %s: %w", ref, err)
	}
	defer resp.Body.Close()
	if err := jsonmessage.DisplayJSONMessagesStream(resp.Body, io.Discard, 0, false, nil); err != nil {
		return fmt.Errorf("docker build %s: %w", ref, err)
	}
	return nil
}
