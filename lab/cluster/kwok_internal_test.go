package cluster

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/chaoslab/chaoslab/lab/cluster/internal/proc"
)

func TestKwokNode(t *testing.T) {
	n, err := kwokNode(NodeSpec{Name: "node-1", CPU: "4", Memory: "16Gi"})
	if err != nil {
		t.Fatal(err)
	}
	if got := n.Status.Capacity.Cpu().Value(); got != 4 {
		t.Errorf("cpu %d", got)
	}
	if got := n.Status.Allocatable.Memory().Value(); got != 16<<30 {
		t.Errorf("memory %d", got)
	}
	if got := n.Status.Capacity.Pods().Value(); got != 110 {
		t.Errorf("pods %d", got)
	}
	if n.Annotations[annotationMetricsPath] != "/metrics/nodes/node-1/metrics/resource" || n.Annotations[AnnotationKwokNode] != "fake" {
		t.Errorf("annotations %v", n.Annotations)
	}
	if n.Status.Addresses[0].Type != corev1.NodeInternalIP || n.Status.Addresses[0].Address != "127.0.0.1" {
		t.Errorf("addresses %v", n.Status.Addresses)
	}
	for _, bad := range []NodeSpec{{Name: "n", CPU: "four", Memory: "1Gi"}, {Name: "n", CPU: "1", Memory: "lots"}, {Name: "N", CPU: "1", Memory: "1Gi"}} {
		if _, err := kwokNode(bad); err == nil {
			t.Errorf("%+v: want error", bad)
		}
	}
}

// A lab process killed outright leaves its cluster behind; the next Create
// reaps it: processes mentioning the work dir are stopped and the dir removed,
// while a live lab's cluster is left alone.
func TestReapStaleRemovesOrphanedClustersOnly(t *testing.T) {
	root := t.TempDir()
	stale := filepath.Join(root, "stale-1")
	live := filepath.Join(root, "live-1")
	for _, d := range []string{stale, live} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A process that is gone: a finished child's pid, with a start time that
	// cannot match even if the pid is reused.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stale, ownerFile), []byte(strconv.Itoa(dead.Process.Pid)+" 1"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeOwner(live); err != nil {
		t.Fatal(err)
	}
	// An orphaned "component" of the stale cluster.
	f := filepath.Join(stale, "etcd.log")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	orphan := exec.Command("tail", "-f", f)
	if err := orphan.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = orphan.Wait(); close(exited) }()
	t.Cleanup(func() { _ = orphan.Process.Kill(); <-exited })

	var log strings.Builder
	reapStale(root, &log, nil)

	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal("orphaned process of the stale cluster survived")
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale dir still there (%v)", err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("live cluster's dir was removed: %v", err)
	}
	if len(proc.Under(stale)) != 0 {
		t.Error("processes under the stale dir remain")
	}
	if !strings.Contains(log.String(), "removing stale cluster") {
		t.Errorf("log %q", log.String())
	}
}
