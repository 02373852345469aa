// Package node runs one real Kubernetes node (kubelet + a private containerd,
// runc and the CNI bridge plugin) for the lab's `node` cluster provider, inside
// a network namespace and a private mount namespace the run creates and
// removes.
//
// Layout (see /work/shared/facts/real-node.md, run (b)):
//   - Env: the run netns (a veth pair with both ends inside, no uplink), an
//     anchor process that holds a private mount namespace in which /sys shows
//     the netns's links (cgroups kept), and per-run directories are bound over
//     the host-global paths containerd 1.6 and the kubelet hard-code
//     (/run/containerd, /var/lib/cni, /run/netns, /var/log), and the kernel
//     tunables the kubelet would set are masked by files holding the values it
//     wants, so it never writes the host's. Every component runs in both
//     namespaces through Env.Command (nsenter --target ANCHOR --mount --net).
//   - Containerd, Kubelet: the daemons, their configs rendered here.
//   - Image: FROM-scratch docker-archive tars imported with ctr.
//
// Teardown removes every process (SIGTERM, bounded wait, SIGKILL), the
// namespaces (their mounts vanish with them), the cgroup subtree and the run
// directory.
package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// hostPaths are bound to per-run directories inside the mount namespace:
// containerd 1.6 keeps shim sockets under /run/containerd/s and pod netns pins
// under /run/netns, libcni its cache under /var/lib/cni, the kubelet pod logs
// under /var/log/pods and /var/log/containers.
var hostPaths = []string{"/run/containerd", "/var/lib/cni", "/run/netns", "/var/log"}

// Tunables the kubelet sets when they differ (protectKernelDefaults false),
// with the values it wants. They are host-global (not per netns), so they are
// masked inside the mount namespace instead of being written.
var kubeletTunables = map[string]string{
	"vm/overcommit_memory":      "1",
	"vm/panic_on_oom":           "0",
	"kernel/panic":              "10",
	"kernel/panic_on_oops":      "1",
	"kernel/keys/root_maxkeys":  "1000000",
	"kernel/keys/root_maxbytes": "25000000",
}

// Env is the run's namespaces, cgroup root and directory.
type Env struct {
	Dir        string // the run directory; everything the node writes is under it
	Netns      string // name under /run/netns
	CgroupRoot string // e.g. /chaoslab-lab-1 (the kubelet's cgroupRoot)

	anchor        *exec.Cmd
	anchorDone    chan struct{}
	createdDirs   []string // host mount points that did not exist before
	netnsMounted  bool     // /run/netns was a mount point before the run
	sysctlsBefore map[string]string
	cgroupDirs    []string // the cgroupRoot in every hierarchy
}

// NsPath is the netns file.
func (e *Env) NsPath() string { return "/run/netns/" + e.Netns }

// Setup creates the netns, its links and addresses, the cgroup root and the
// anchor of the mount namespace. On error it removes what it made.
func Setup(ctx context.Context, dir, name string) (_ *Env, err error) {
	e := &Env{Dir: dir, Netns: name, CgroupRoot: "/" + name, sysctlsBefore: ReadTunables()}
	defer func() {
		if err != nil {
			_ = e.Teardown()
		}
	}()
	e.netnsMounted = isMountPoint("/run/netns")
	// Mount points for the per-run dirs; those made here are removed again
	// (before `ip netns add`, which makes /run/netns itself).
	for _, p := range hostPaths {
		if _, err := os.Stat(p); os.IsNotExist(err) {
			if err := os.MkdirAll(p, 0o755); err != nil {
				return nil, err
			}
			e.createdDirs = append(e.createdDirs, p)
		}
	}
	if _, err := os.Stat(e.NsPath()); err == nil {
		return nil, fmt.Errorf("network namespace %s exists already: remove it with `ip netns del %s`", name, name)
	}
	for _, args := range [][]string{
		{"netns", "add", name},
		{"-n", name, "link", "set", "lo", "up"},
		// No dummy module on these machines: a veth pair with both ends inside.
		{"-n", name, "link", "add", "node0", "type", "veth", "peer", "name", "node0p"},
		{"-n", name, "addr", "add", nodeCIDR, "dev", "node0"},
		{"-n", name, "link", "set", "node0", "up"},
		{"-n", name, "link", "set", "node0p", "up"},
		{"-n", name, "route", "add", "default", "via", nodeGW},
	} {
		if out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("ip %s: %w: %s (install iproute2)", strings.Join(args, " "), err, bytes.TrimSpace(out))
		}
	}
	if err := e.makeCgroupRoot(); err != nil {
		return nil, err
	}
	if err := e.startAnchor(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

// anchorScript runs as the first process of the mount namespace (already in
// the netns): a sysfs that shows the netns's links with the host's cgroup
// mounts kept, per-run dirs over the host-global paths, the tunables masked.
func (e *Env) anchorScript() string {
	var b strings.Builder
	b.WriteString("set -eu\n")
	fmt.Fprintf(&b, "mkdir -p %[1]s/cg\nmount --rbind /sys/fs/cgroup %[1]s/cg\nmount -t sysfs sysfs /sys\nmount --rbind %[1]s/cg /sys/fs/cgroup\n", e.Dir)
	for _, p := range hostPaths {
		d := filepath.Join(e.Dir, "host", strings.ReplaceAll(strings.Trim(p, "/"), "/", "-"))
		fmt.Fprintf(&b, "mkdir -p %s\nmount --bind %s %s\n", d, d, p)
	}
	keys := make([]string, 0, len(kubeletTunables))
	for k := range kubeletTunables {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f := filepath.Join(e.Dir, "sysctl", strings.ReplaceAll(k, "/", "."))
		fmt.Fprintf(&b, "mkdir -p %s/sysctl\necho %s > %s\nmount --bind %s /proc/sys/%s\n", e.Dir, kubeletTunables[k], f, f, k)
	}
	fmt.Fprintf(&b, "touch %s/anchor.ready\nexec sleep infinity\n", e.Dir)
	return b.String()
}

func (e *Env) startAnchor(ctx context.Context) error {
	script := filepath.Join(e.Dir, "anchor.sh")
	if err := os.WriteFile(script, []byte(e.anchorScript()), 0o755); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(e.Dir, "anchor.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	// Not `ip netns exec`: it remounts /sys and loses the cgroup v1 mounts.
	cmd := exec.Command("nsenter", "--net="+e.NsPath(), "--", "unshare", "--mount", "--propagation", "private", "--", "sh", script)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("nsenter/unshare (install util-linux): %w", err)
	}
	e.anchor, e.anchorDone = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(e.anchorDone) }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(filepath.Join(e.Dir, "anchor.ready")); err == nil {
			return nil
		}
		select {
		case <-e.anchorDone:
			out, _ := os.ReadFile(filepath.Join(e.Dir, "anchor.log"))
			return fmt.Errorf("mount namespace set-up failed: %s", bytes.TrimSpace(out))
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Command runs name in the run's network and mount namespaces.
func (e *Env) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("nsenter", e.Wrap(append([]string{name}, args...))...)
}

// Wrap is the nsenter argument list that runs argv in the namespaces:
// exec.Command("nsenter", Wrap(argv)...).
func (e *Env) Wrap(argv []string) []string {
	return append([]string{"--target", strconv.Itoa(e.anchor.Process.Pid), "--mount", "--net", "--"}, argv...)
}

// Prefix is Wrap's command line without argv, for tools that take a wrapper.
func (e *Env) Prefix() []string { return append([]string{"nsenter"}, e.Wrap(nil)...) }

func (e *Env) makeCgroupRoot() error {
	for _, h := range cgroupHierarchies() {
		d := filepath.Join(h, e.CgroupRoot)
		if err := os.Mkdir(d, 0o755); err != nil && !os.IsExist(err) {
			return fmt.Errorf("cgroup %s: %w", d, err)
		}
		e.cgroupDirs = append(e.cgroupDirs, d)
		if err := nodeWeight(d); err != nil {
			return err
		}
		if filepath.Base(h) == "cpuset" || strings.Contains(filepath.Base(h), "cpuset") {
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				v, err := os.ReadFile(filepath.Join(h, f))
				if err == nil {
					if err := os.WriteFile(filepath.Join(d, f), v, 0o644); err != nil {
						return fmt.Errorf("cgroup %s/%s: %w", d, f, err)
					}
				}
			}
		}
	}
	if len(e.cgroupDirs) == 0 {
		return errors.New("no cgroup hierarchy under /sys/fs/cgroup")
	}
	return nil
}

// nodeWeight gives the node's cgroup root the CPU weight of the machine's
// cores (cgroup v1 cpu.shares 1024 per core, v2 cpu.weight 100 per core),
// where a new cgroup gets the weight of one busy process. A real node's
// kubelet gives kubepods the weight of its allocatable CPU; here the node
// shares the host with the run's other processes, and at the weight of one
// process a pod would be slowed by any two busy processes beside it, not by
// its own CPU limit as the scenarios model. The pods' limits still bound
// what the node uses. Hierarchies without the file are left alone.
func nodeWeight(dir string) error {
	for _, f := range []struct {
		name    string
		perCore int
	}{{"cpu.shares", 1024}, {"cpu.weight", 100}} {
		p := filepath.Join(dir, f.name)
		if _, err := os.Stat(p); err != nil {
			continue
		}
		v := min(f.perCore*runtime.NumCPU(), 10000) // cpu.weight's maximum
		if err := os.WriteFile(p, []byte(strconv.Itoa(v)), 0o644); err != nil {
			return fmt.Errorf("cgroup %s: %w", p, err)
		}
	}
	return nil
}

// cgroupHierarchies are the cgroup mounts under /sys/fs/cgroup (v1 controllers,
// named hierarchies, a hybrid's unified), each once (cpu and cpuacct are often
// links to cpu,cpuacct), or /sys/fs/cgroup itself on a pure v2 host.
func cgroupHierarchies() []string {
	raw, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || (f[2] != "cgroup" && f[2] != "cgroup2") || !strings.HasPrefix(f[1], "/sys/fs/cgroup") {
			continue
		}
		out = append(out, f[1])
	}
	sort.Strings(out)
	return out
}

func isMountPoint(p string) bool {
	raw, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[1] == p {
			return true
		}
	}
	return false
}

// ReadTunables reads the host's values of the tunables the kubelet touches.
func ReadTunables() map[string]string {
	out := map[string]string{}
	for k := range kubeletTunables {
		if v, err := os.ReadFile("/proc/sys/" + k); err == nil {
			out[k] = strings.TrimSpace(string(v))
		}
	}
	return out
}

// Reclaim is the Env of a run whose lab process died (found by its run dir):
// Teardown on it removes its processes, netns and cgroups.
func Reclaim(dir, name string) *Env {
	e := &Env{Dir: dir, Netns: name, CgroupRoot: "/" + name}
	for _, h := range cgroupHierarchies() {
		if d := filepath.Join(h, e.CgroupRoot); isDir(d) {
			e.cgroupDirs = append(e.cgroupDirs, d)
		}
	}
	return e
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// Teardown removes everything Setup made, after killing every process still in
// the namespaces or the cgroup root. Safe on a partly set-up Env; idempotent.
func (e *Env) Teardown() error {
	var errs []error
	KillCgroup(e.cgroupDirs)
	// Everything started in the namespaces: the daemons, kwokctl's components,
	// containerd's shims, leftovers of a run that died.
	nsIno := inode(e.NsPath())
	var mntIno uint64
	if e.anchor != nil {
		mntIno = inode(fmt.Sprintf("/proc/%d/ns/mnt", e.anchor.Process.Pid))
	}
	if nsIno != 0 || mntIno != 0 {
		var pids []int
		for _, pid := range allPids() {
			if (e.anchor != nil && pid == e.anchor.Process.Pid) || pid == os.Getpid() {
				continue
			}
			if (nsIno != 0 && inode(fmt.Sprintf("/proc/%d/ns/net", pid)) == nsIno) ||
				(mntIno != 0 && inode(fmt.Sprintf("/proc/%d/ns/mnt", pid)) == mntIno) {
				pids = append(pids, pid)
			}
		}
		if err := Terminate(pids, 5*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	if e.anchor != nil {
		_ = e.anchor.Process.Kill()
		<-e.anchorDone
		e.anchor = nil
	}
	if _, err := os.Stat(e.NsPath()); err == nil {
		if out, err := exec.Command("ip", "netns", "del", e.Netns).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("ip netns del %s: %w: %s", e.Netns, err, bytes.TrimSpace(out)))
		}
	}
	if !e.netnsMounted && isMountPoint("/run/netns") {
		if ents, err := os.ReadDir("/run/netns"); err == nil && len(ents) == 0 {
			_ = syscall.Unmount("/run/netns", syscall.MNT_DETACH)
		}
	}
	if err := RemoveCgroups(e.cgroupDirs); err != nil {
		errs = append(errs, err)
	}
	e.cgroupDirs = nil
	for i := len(e.createdDirs) - 1; i >= 0; i-- {
		_ = os.Remove(e.createdDirs[i]) // only if still empty
	}
	e.createdDirs = nil
	if e.sysctlsBefore != nil {
		for k, v := range e.sysctlsBefore {
			if now := ReadTunables()[k]; now != v {
				if err := os.WriteFile("/proc/sys/"+k, []byte(v), 0o644); err != nil {
					errs = append(errs, fmt.Errorf("restore %s=%s: %w", k, v, err))
				}
			}
		}
	}
	return errors.Join(errs...)
}

func inode(p string) uint64 {
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		return 0
	}
	return st.Ino
}

func allPids() []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// KillCgroup SIGKILLs every process in the cgroup subtrees (the pods'
// containers) and waits up to 5 s for the subtrees to empty.
func KillCgroup(dirs []string) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		var pids []int
		for _, d := range dirs {
			_ = filepath.WalkDir(d, func(p string, de os.DirEntry, err error) error {
				if err == nil && !de.IsDir() && de.Name() == "cgroup.procs" {
					raw, _ := os.ReadFile(p)
					for _, f := range strings.Fields(string(raw)) {
						if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
							pids = append(pids, pid)
						}
					}
				}
				return nil
			})
		}
		if len(pids) == 0 || time.Now().After(deadline) {
			return
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// RemoveCgroups removes the subtrees, leaves first.
func RemoveCgroups(dirs []string) error {
	var errs []error
	for _, d := range dirs {
		var all []string
		_ = filepath.WalkDir(d, func(p string, de os.DirEntry, err error) error {
			if err == nil && de.IsDir() {
				all = append(all, p)
			}
			return nil
		})
		for i := len(all) - 1; i >= 0; i-- {
			var err error
			for try := 0; try < 50; try++ { // a cgroup empties a moment after its last process
				if err = syscall.Rmdir(all[i]); err == nil || errors.Is(err, syscall.ENOENT) {
					err = nil
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("rmdir %s: %w", all[i], err))
			}
		}
	}
	return errors.Join(errs...)
}

// Terminate sends SIGTERM to pids, waits up to grace, then SIGKILLs the rest.
func Terminate(pids []int, grace time.Duration) error {
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(grace)
	for {
		var alive []int
		for _, pid := range pids {
			if alive1(pid) {
				alive = append(alive, pid)
			}
		}
		if len(alive) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			for _, pid := range alive {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			time.Sleep(200 * time.Millisecond)
			for _, pid := range alive {
				if alive1(pid) {
					return fmt.Errorf("process %d survived SIGKILL", pid)
				}
			}
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func alive1(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] != 'Z' && stat[i+2] != 'X'
}
