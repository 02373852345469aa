package node

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestConfigsNameRunPaths(t *testing.T) {
	e := &Env{Dir: "/tmp/run", Netns: "n", CgroupRoot: "/n"}
	conf := e.ContainerdConfig()
	for _, want := range []string{`root = "/tmp/run/containerd/root"`, `address = "/tmp/run/containerd.sock"`,
		`sandbox_image = "registry.k8s.io/pause:3.10.1"`, "restrict_oom_score_adj = true", "SystemdCgroup = false",
		`Root = "/tmp/run/runc"`, `conf_dir = "/tmp/run/net.d"`} {
		if !strings.Contains(conf, want) {
			t.Errorf("containerd config lacks %s", want)
		}
	}
	if strings.Contains(CNIConfig(), `"ipMasq":true`) {
		t.Error("the pods' bridge must not masquerade")
	}
	k := e.KubeletConfiguration(KubeletConfig{CACert: "/ca.crt", Reserved: map[string]string{"cpu": "1850m"}, MaxPods: 5})
	for _, want := range []string{"cgroupRoot: /n", "failCgroupV1: false", "containerRuntimeEndpoint: unix:///tmp/run/containerd.sock",
		"anonymous: {enabled: false}", "mode: Webhook", "clientCAFile: /ca.crt", "cpu: \"1850m\"", "maxPods: 5", "readOnlyPort: 0"} {
		if !strings.Contains(k, want) {
			t.Errorf("kubelet config lacks %s:\n%s", want, k)
		}
	}
}

// TestEnvContainerdImageAndTeardown runs the namespaces and containerd,
// imports a scratch image, and checks the host is as before afterwards.
func TestEnvContainerdImageAndTeardown(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespace, mounts, cgroups)")
	}
	for _, b := range []string{"containerd", "ctr", "nsenter", "ip"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Skip(b + " missing: apt-get install containerd iproute2 util-linux")
		}
	}
	links := func() string {
		out, _ := exec.Command("ip", "-o", "link", "show").Output()
		return fieldsOf(string(out))
	}
	mounts := func() string { b, _ := os.ReadFile("/proc/mounts"); return fieldsOf(string(b)) }
	netns := func() string { out, _ := exec.Command("ip", "netns", "list").Output(); return string(out) }
	l0, m0, n0, s0 := links(), mounts(), netns(), ReadTunables()

	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	t0 := time.Now()
	e, err := Setup(ctx, dir, "chaoslab-envtest")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("netns + mount namespace in %s", time.Since(t0))
	defer e.Teardown()
	if b, err := os.ReadFile("/sys/fs/cgroup/cpu/chaoslab-envtest/cpu.shares"); err == nil {
		if got, want := strings.TrimSpace(string(b)), strconv.Itoa(1024*runtime.NumCPU()); got != want {
			t.Errorf("the node's cgroup root has cpu.shares %s, want the machine's %d cores' %s", got, runtime.NumCPU(), want)
		}
	}
	if links() != l0 {
		t.Error("host links changed: the node's links must stay in the netns")
	}
	out, err := e.Command("ip", "-o", "addr").CombinedOutput()
	if err != nil || !strings.Contains(string(out), NodeIP) {
		t.Fatalf("node IP not in the netns: %v %s", err, out)
	}
	out, _ = e.Command("ls", "/sys/class/net").CombinedOutput()
	if strings.Contains(string(out), "eth0") || !strings.Contains(string(out), "node0") {
		t.Errorf("/sys in the mount namespace should show the netns's links, got %s", out)
	}
	if out, _ := e.Command("cat", "/proc/sys/kernel/panic").CombinedOutput(); strings.TrimSpace(string(out)) != "10" {
		t.Errorf("kernel.panic masked for the kubelet: want 10, got %s", out)
	}
	t0 = time.Now()
	d, err := e.StartContainerd(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("containerd socket in %s", time.Since(t0))
	tar := filepath.Join(dir, "img.tar")
	if err := ScratchImage(tar, "chaoslab.local/test:v1", "sh", []byte("#!/bin/false\n")); err != nil {
		t.Fatal(err)
	}
	if err := e.ImportImage(ctx, tar); err != nil {
		t.Fatal(err)
	}
	imgs, err := e.Images(ctx)
	if err != nil || !slices.Contains(imgs, "chaoslab.local/test:v1") {
		t.Fatalf("image not imported: %v %v", imgs, err)
	}
	if err := d.Stop(5 * time.Second); err != nil {
		t.Error(err)
	}
	if err := e.Teardown(); err != nil {
		t.Error(err)
	}
	if l, m, n := links(), mounts(), netns(); l != l0 || m != m0 || n != n0 {
		t.Errorf("host changed:\nlinks %s -> %s\nmounts %s -> %s\nnetns %q -> %q", l0, l, m0, m, n0, n)
	}
	for k, v := range s0 {
		if ReadTunables()[k] != v {
			t.Errorf("tunable %s changed: %s -> %s", k, v, ReadTunables()[k])
		}
	}
	if ents, _ := os.ReadDir("/sys/fs/cgroup/cpu/chaoslab-envtest"); ents != nil {
		t.Error("cgroup root left")
	}
}

// fieldsOf is the second field of each line (a link's name, a mount's
// path), leaving out Docker's mounts and bridge links: containers that other
// tests run at the same time make them; the node uses its own containerd and
// keeps its links in the netns.
func fieldsOf(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, " master docker0 ") || strings.Contains(l, " master br-") {
			continue
		}
		if f := strings.Fields(l); len(f) > 1 && !strings.HasPrefix(f[1], "/var/lib/docker/") && !strings.HasPrefix(f[1], "/run/docker/") {
			out = append(out, f[1])
		}
	}
	return strings.Join(out, " ")
}
