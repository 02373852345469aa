package autoscale

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestObserverRecordsReplicasHPAAndEvents(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := fakeCluster()
	obs, err := Observe(ctx, c, "")
	if err != nil {
		t.Fatal(err)
	}
	defer obs.Close()

	three := int32(3)
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "lab"}, Spec: appsv1.DeploymentSpec{Replicas: &three}}
	dep.Status.ReadyReplicas = 1
	if _, err := c.Client.AppsV1().Deployments("lab").Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dep.Status.ReadyReplicas = 3
	if _, err := c.Client.AppsV1().Deployments("lab").UpdateStatus(ctx, dep, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := obs.WaitFor(ctx, "3 ready", func(o *Observer) bool { return o.MaxReplicas("web") == 3 }); err != nil {
		t.Fatal(err)
	}
	if r := obs.Replicas("web"); len(r) != 2 || r[0].Ready != 1 || r[1].Desired != 3 {
		t.Errorf("replica series %+v", r)
	}

	h := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "lab"}}
	h.Status.Conditions = []autoscalingv2.HorizontalPodAutoscalerCondition{{Type: autoscalingv2.ScalingActive, Status: corev1.ConditionFalse, Reason: "FailedGetResourceMetric"}}
	if _, err := c.Client.AutoscalingV2().HorizontalPodAutoscalers("lab").Create(ctx, h, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e1", Namespace: "lab", UID: "e1"}, Reason: "FailedGetResourceMetric", Type: "Warning",
		InvolvedObject: corev1.ObjectReference{Kind: "HorizontalPodAutoscaler", Name: "web"}, Message: "missing request for cpu", Count: 1}
	if _, err := c.Client.CoreV1().Events("lab").Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := obs.WaitFor(ctx, "the event and condition", func(o *Observer) bool {
		return len(o.Events("FailedGetResourceMetric")) == 1 && o.HasCondition("web", autoscalingv2.ScalingActive, corev1.ConditionFalse)
	}); err != nil {
		t.Fatal(err)
	}
	// An unchanged event (same count) is not recorded twice; a repeat is.
	ev.Message = "still missing"
	_, _ = c.Client.CoreV1().Events("lab").Update(ctx, ev, metav1.UpdateOptions{})
	ev.Count = 2
	_, _ = c.Client.CoreV1().Events("lab").Update(ctx, ev, metav1.UpdateOptions{})
	if err := obs.WaitFor(ctx, "the repeat", func(o *Observer) bool { return len(o.Events()) == 2 }); err != nil {
		t.Fatal(err)
	}
	if e := obs.Events(); e[1].Count != 2 || len(obs.Events("SuccessfulRescale")) != 0 {
		t.Errorf("events %+v", e)
	}

	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelShort()
	if err := obs.WaitFor(short, "never", func(*Observer) bool { return false }); err == nil {
		t.Error("WaitFor of a false condition returned nil")
	}
	obs.Close()
	obs.Close() // idempotent
}
