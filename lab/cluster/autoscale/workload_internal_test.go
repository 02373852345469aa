package autoscale

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/chaoslab/chaoslab/lab/cluster"
)

func TestDescribePodsSaysWhatEachUnreadyPodWaitsFor(t *testing.T) {
	ready := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-ok"}, Status: corev1.PodStatus{
		Phase:      corev1.PodRunning,
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
	}}
	creating := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-a"}, Spec: corev1.PodSpec{NodeName: "node-1"}, Status: corev1.PodStatus{
		Phase:             corev1.PodPending,
		ContainerStatuses: []corev1.ContainerStatus{{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}},
	}}
	probing := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-b"}, Status: corev1.PodStatus{
		Phase:             corev1.PodRunning,
		Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}},
		ContainerStatuses: []corev1.ContainerStatus{{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}},
	}}
	unscheduled := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-c"}, Status: corev1.PodStatus{
		Phase:      corev1.PodPending,
		Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/1 nodes are available: 1 Insufficient cpu."}},
	}}
	crashed := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-d"}, Status: corev1.PodStatus{
		Phase:             corev1.PodRunning,
		ContainerStatuses: []corev1.ContainerStatus{{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 2}}}},
	}}
	got := describePods([]corev1.Pod{ready, creating, probing, unscheduled, crashed})
	want := []string{
		"pod web-a: Pending (ContainerCreating), node node-1",
		"pod web-b: Running (running, readiness probe not yet passed)",
		"pod web-c: Pending (unscheduled Unschedulable: 0/1 nodes are available: 1 Insufficient cpu.)",
		"pod web-d: Running (Error exited 2)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestLastWarningsNewestLast(t *testing.T) {
	at := func(s int) metav1.Time { return metav1.NewTime(time.Unix(int64(1000+s), 0)) }
	ev := func(name, reason string, s int, count int32) corev1.Event {
		return corev1.Event{InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: name}, Type: "Warning", Reason: reason, Message: reason + " msg ", LastTimestamp: at(s), Count: count}
	}
	got := lastWarnings([]corev1.Event{ev("a", "Third", 3, 1), ev("b", "First", 1, 1), ev("c", "Fourth", 4, 5), ev("d", "Second", 2, 1)}, 3)
	want := "Warning Second Pod/d: Second msg | Warning Third Pod/a: Third msg | Warning Fourth Pod/c: Fourth msg"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if lastWarnings(nil, 3) != "" {
		t.Error("no events should say nothing")
	}
}

func TestWaitReadyTimeoutSaysWhyThePodsAreNotReady(t *testing.T) {
	pod := corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "lab", Labels: map[string]string{LabelWorkload: "web"}},
		Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{
			{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "Back-off pulling image"}}}}},
	}
	ev := corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "web-1.1", Namespace: "lab"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web-1"}, Type: "Warning", Reason: "Failed",
		Message: "Failed to pull image", LastTimestamp: metav1.Now(),
	}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "lab"}}
	c := &cluster.Cluster{Name: "lab", Provider: "kwok", Namespace: "lab", Client: fake.NewClientset(dep, &pod, &ev)}
	w := &Workload{Spec: WorkloadSpec{Name: "web"}, Namespace: "lab", Labels: map[string]string{LabelWorkload: "web"}, c: c}

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := w.WaitReady(ctx, 1)
	if err == nil {
		t.Fatal("no ready replica, yet WaitReady returned nil")
	}
	for _, want := range []string{"deployment lab/web: 0 of 1 replicas ready", "pod web-1: Pending (ImagePullBackOff: Back-off pulling image)", "last warnings: Warning Failed Pod/web-1: Failed to pull image"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q\nlacks %q", err, want)
		}
	}

	// Cancelled (Ctrl-C), it returns at once without asking the API why.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if err := w.WaitReady(ctx, 1); err == nil || strings.Contains(err.Error(), "pod web-1") {
		t.Errorf("cancelled: %v", err)
	}
}
