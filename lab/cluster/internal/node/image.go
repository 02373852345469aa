package node

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// ScratchImage writes a docker-archive tar (what `docker save` writes and `ctr
// images import` reads) of a FROM-scratch image: one layer holding the static
// binary bin at /name, run as its entrypoint.
func ScratchImage(out, tag, name string, bin []byte, args ...string) error {
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(bin)), Uid: 0, Gid: 0, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}); err != nil {
		return err
	}
	if _, err := tw.Write(bin); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	diff := sha256.Sum256(layer.Bytes())
	diffID := hex.EncodeToString(diff[:])
	config := map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"config": map[string]any{
			"Entrypoint": append([]string{"/" + name}, args...),
			"Env":        []string{"PATH=/"},
		},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + diffID}},
	}
	cj, err := json.Marshal(config)
	if err != nil {
		return err
	}
	cs := sha256.Sum256(cj)
	configName := hex.EncodeToString(cs[:]) + ".json"
	manifest, err := json.Marshal([]map[string]any{{
		"Config": configName, "RepoTags": []string{tag}, "Layers": []string{diffID + "/layer.tar"},
	}})
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	otw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		body []byte
	}{{diffID + "/layer.tar", layer.Bytes()}, {configName, cj}, {"manifest.json", manifest}} {
		if err := otw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), ModTime: time.Unix(0, 0)}); err != nil {
			return err
		}
		if _, err := otw.Write(f.body); err != nil {
			return err
		}
	}
	if err := otw.Close(); err != nil {
		return err
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("image %s: %w", tag, err)
	}
	return nil
}
