package node

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// PauseImage is the sandbox image tag containerd is configured with: the image
// must be imported under exactly this name or containerd tries to pull it.
const PauseImage = "registry.k8s.io/pause:3.10.1"

// CNIBinDir is where Debian's containernetworking-plugins installs them.
const CNIBinDir = "/usr/lib/cni"

// ContainerdSocket is the private containerd's socket in the run dir.
func (e *Env) ContainerdSocket() string { return filepath.Join(e.Dir, "containerd.sock") }

// ContainerdConfig renders containerd 1.6's config (version 2): a private
// instance (root, state, sockets, runc root under the run dir), cgroupfs like
// the kubelet, oom_score_adj restricted (no CAP_SYS_RESOURCE here), CNI from
// Debian's plugin dir and the run's conflist.
func (e *Env) ContainerdConfig() string {
	d := e.Dir
	return fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q

[grpc]
  address = %[3]q

[ttrpc]
  address = %[4]q

[plugins."io.containerd.internal.v1.opt"]
  path = %[5]q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[6]q
  restrict_oom_score_adj = true
  tolerate_missing_hugepages_controller = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = %[7]q
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %[8]q
    conf_dir = %[9]q
`, filepath.Join(d, "containerd", "root"), filepath.Join(d, "containerd", "state"), e.ContainerdSocket(),
		filepath.Join(d, "containerd.ttrpc.sock"), filepath.Join(d, "containerd", "opt"), PauseImage,
		filepath.Join(d, "runc"), CNIBinDir, filepath.Join(d, "net.d"))
}

// CNIConfig is the bridge network of the pods, inside the run netns. No
// masquerade: the netns has no uplink, and nothing should look like it has.
func CNIConfig() string {
	return fmt.Sprintf(`{"cniVersion":"1.0.0","name":"chaoslab","plugins":[{"type":"bridge","bridge":%q,"isGateway":true,`+
		`"ipMasq":false,"hairpinMode":true,"ipam":{"type":"host-local","ranges":[[{"subnet":%q}]],`+
		`"routes":[{"dst":"0.0.0.0/0"}]}},{"type":"portmap","capabilities":{"portMappings":true}}]}`, BridgeName, PodSubnet)
}

// StartContainerd writes the configs and starts containerd, waiting for its socket.
func (e *Env) StartContainerd(ctx context.Context) (*Daemon, error) {
	if err := os.MkdirAll(filepath.Join(e.Dir, "net.d"), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(e.Dir, "net.d", "10-chaoslab.conflist"), []byte(CNIConfig()), 0o644); err != nil {
		return nil, err
	}
	conf := filepath.Join(e.Dir, "containerd.toml")
	if err := os.WriteFile(conf, []byte(e.ContainerdConfig()), 0o644); err != nil {
		return nil, err
	}
	d, err := e.StartDaemon("containerd", "containerd", "--config", conf)
	if err != nil {
		return nil, err
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if c, err := net.Dial("unix", e.ContainerdSocket()); err == nil {
			_ = c.Close()
			return d, nil
		}
		select {
		case <-d.Exited():
			return nil, fmt.Errorf("containerd exited at start: %s", d.tail(600))
		case <-ctx.Done():
			_ = d.Stop(5 * time.Second)
			return nil, fmt.Errorf("containerd socket %s: %w", e.ContainerdSocket(), ctx.Err())
		case <-tick.C:
		}
	}
}

// ImportImage imports a docker-archive tar into containerd's CRI namespace.
func (e *Env) ImportImage(ctx context.Context, tarPath string) error {
	cmd := e.Command("ctr", "-a", e.ContainerdSocket(), "-n", "k8s.io", "images", "import", "--all-platforms", tarPath)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("ctr images import %s: %w: %s", filepath.Base(tarPath), err, bytes.TrimSpace(out))
	}
	return nil
}

// Images lists the image names containerd has in the CRI namespace.
func (e *Env) Images(ctx context.Context) ([]string, error) {
	out, err := exec.CommandContext(ctx, "ctr", "-a", e.ContainerdSocket(), "-n", "k8s.io", "images", "ls", "-q").Output()
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(out)), nil
}
