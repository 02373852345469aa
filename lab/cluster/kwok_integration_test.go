package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chaoslab/chaoslab/internal/turns"
	"github.com/chaoslab/chaoslab/lab/cluster"
	"github.com/chaoslab/chaoslab/lab/cluster/autoscale"
	"github.com/chaoslab/chaoslab/lab/cluster/internal/proc"
	"github.com/chaoslab/chaoslab/lab/cluster/internal/tools"
)

// requireTools skips with the one-line instruction when the binaries are missing.
func requireTools(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("kwok integration test: skipped in -short mode")
	}
	if _, err := tools.Dir(); err != nil {
		if errors.Is(err, tools.ErrNotBuilt) {
			t.Skip(tools.ErrNotBuilt.Error())
		}
		t.Fatal(err)
	}
	turns.Take(t)
}

// httptestReplicas is a ReplicaFactory of tiny loopback servers that name their pod.
func httptestReplicas(ctx context.Context, pod string) (string, func() error, error) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, pod)
	}))
	return srv.URL, func() error { srv.Close(); return nil }, nil
}

// drive sends requests through sim at rate per second until stop returns true
// or d passes; it returns how many were answered.
func drive(ctx context.Context, sim *autoscale.Simulator, rate int, d time.Duration, stop func() bool) int {
	client := &http.Client{Transport: sim.RoundTripper(), Timeout: 2 * time.Second}
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	deadline := time.After(d)
	ok := 0
	for n := 0; ; n++ {
		if n%rate == 0 && stop() {
			return ok
		}
		select {
		case <-ctx.Done():
			return ok
		case <-deadline:
			return ok
		case <-tick.C:
		}
		// The URL's host is a placeholder: the simulator picks a replica.
		resp, err := client.Get("http://web.lab.svc/")
		if err != nil {
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		ok++
	}
}

func TestKwokClusterHPA(t *testing.T) {
	requireTools(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	p, err := cluster.Lookup("kwok")
	if err != nil {
		t.Fatal(err)
	}
	if ok, reason := p.Available(); !ok {
		t.Fatalf("kwok provider unavailable although tools are built: %s", reason)
	}
	c, err := p.Create(ctx, "hpa-lab")
	if err != nil {
		t.Fatal(err)
	}
	dir := c.Dir
	t.Cleanup(func() {
		if err := c.Delete(context.Background()); err != nil {
			t.Errorf("delete: %v", err)
		}
		if pids := proc.Under(dir); len(pids) > 0 {
			t.Errorf("processes survived Delete: %v", pids)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("work dir %s survived Delete (stat err %v)", dir, err)
		}
	})
	t.Logf("kwok cluster up in %v (kubeconfig %s)", c.Started.Round(time.Millisecond), c.Kubeconfig)
	if err := c.AddNode(ctx, "node-1", "4", "16Gi"); err != nil {
		t.Fatal(err)
	}
	obs, err := autoscale.Observe(ctx, c, "")
	if err != nil {
		t.Fatal(err)
	}
	defer obs.Close()

	t.Run("cpu load scales the deployment", func(t *testing.T) {
		w, err := autoscale.Deploy(ctx, c, autoscale.WorkloadSpec{Name: "web", CPURequest: "100m", CPUCostPerRequest: 20})
		if err != nil {
			t.Fatal(err)
		}
		sim, err := autoscale.Simulate(ctx, w, httptestReplicas)
		if err != nil {
			t.Fatal(err)
		}
		defer sim.Close()
		// Generous: metrics-server needs two 10 s scrapes, and `make test` runs
		// other packages' tests beside this one on two cores.
		wctx, wcancel := context.WithTimeout(ctx, 2*time.Minute)
		defer wcancel()
		if err := w.WaitReady(wctx, 1); err != nil {
			t.Fatal(err)
		}
		if err := w.WaitMetrics(wctx, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := autoscale.HPA(ctx, c, autoscale.HPASpec{Target: "web", Min: 1, Max: 5, CPUPercent: 50, ScaleDownWindow: 5 * time.Minute}); err != nil {
			t.Fatal(err)
		}
		// The HPA must first see the idle pod (metrics-server needs two scrapes),
		// or a rescale could not be told apart from the initial sizing.
		if err := obs.WaitFor(wctx, "the HPA to report CPU utilization", func(o *autoscale.Observer) bool {
			hs := o.HPA("web")
			return len(hs) > 0 && hs[len(hs)-1].CPUPercent != nil
		}); err != nil {
			t.Fatal(err)
		}

		// 20 req/s x 20 millicore-seconds = 400m on one pod with a 100m request:
		// 400% against a 50% target, so the HPA wants ceil(1 x 400/50) = 8, capped at 5.
		loadStart := time.Now()
		scaled := func() bool { return obs.MaxReplicas("web") >= 3 }
		served := drive(ctx, sim, 20, 3*time.Minute, scaled)
		if !scaled() {
			t.Fatalf("replicas never reached 3 in 3 min of load (%d requests served); replicas %+v; hpa %+v; sim errors %v",
				served, obs.Replicas("web"), last(obs.HPA("web")), sim.Errors())
		}
		reacted := time.Since(loadStart)
		rescales := obs.Events("SuccessfulRescale")
		if len(rescales) == 0 {
			t.Fatal("replicas rose without a SuccessfulRescale event")
		}
		t.Logf("HPA reaction: first SuccessfulRescale %v after load start (%q), 3 ready replicas after %v; %d requests served over %d replicas",
			rescales[0].At.Sub(loadStart).Round(100*time.Millisecond), rescales[0].Message, reacted.Round(100*time.Millisecond), served, len(sim.Served()))

		// The metrics API reports the simulated load: well above the idle 1m.
		pm, err := w.Metrics(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var total int64
		for _, m := range pm {
			total += m
		}
		if total < 100 {
			t.Errorf("metrics API reports %dm in total over %v under 400m of simulated load", total, pm)
		}
		t.Logf("metrics API: %v (total %dm)", pm, total)
	})

	t.Run("no cpu request leaves the HPA unable to scale", func(t *testing.T) {
		w, err := autoscale.Deploy(ctx, c, autoscale.WorkloadSpec{Name: "norequest", CPUCostPerRequest: 20})
		if err != nil {
			t.Fatal(err)
		}
		wctx, wcancel := context.WithTimeout(ctx, 2*time.Minute)
		defer wcancel()
		if err := w.WaitMetrics(wctx, 1); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := autoscale.HPA(ctx, c, autoscale.HPASpec{Target: "norequest", Min: 1, Max: 5, CPUPercent: 50}); err != nil {
			t.Fatal(err)
		}
		err = obs.WaitFor(wctx, "FailedGetResourceMetric and ScalingActive=False", func(o *autoscale.Observer) bool {
			failed := false
			for _, e := range o.Events("FailedGetResourceMetric") {
				failed = failed || (e.Object == "norequest" && strings.Contains(e.Message, "missing request for cpu"))
			}
			return failed && o.HasCondition("norequest", autoscalingv2.ScalingActive, corev1.ConditionFalse)
		})
		if err != nil {
			t.Fatalf("%v; events %+v; hpa %+v", err, obs.Events(), last(obs.HPA("norequest")))
		}
		e := obs.Events("FailedGetResourceMetric")
		t.Logf("no-request HPA: FailedGetResourceMetric after %v: %q", time.Since(start).Round(100*time.Millisecond), e[len(e)-1].Message)
	})

	// Pending pods: more CPU requested than the node has. The scheduler says
	// FailedScheduling; a second node (what cluster-autoscaler would add) lets
	// them land.
	t.Run("pods pending until a node is added", func(t *testing.T) {
		w, err := autoscale.Deploy(ctx, c, autoscale.WorkloadSpec{Name: "big", Replicas: 3, CPURequest: "1500m"})
		if err != nil {
			t.Fatal(err)
		}
		wctx, wcancel := context.WithTimeout(ctx, time.Minute)
		defer wcancel()
		err = obs.WaitFor(wctx, "FailedScheduling for a big pod", func(o *autoscale.Observer) bool {
			for _, e := range o.Events("FailedScheduling") {
				if strings.HasPrefix(e.Object, "big-") && strings.Contains(e.Message, "Insufficient cpu") {
					return true
				}
			}
			return false
		})
		if err != nil {
			t.Fatalf("%v; events %+v", err, obs.Events("FailedScheduling"))
		}
		// node-1 has 4 CPUs, so 2 of the 3 fit; the "web" pods request 100m each.
		if err := c.AddNode(ctx, "node-2", "4", "16Gi"); err != nil {
			t.Fatal(err)
		}
		if err := w.WaitReady(wctx, 3); err != nil {
			t.Fatal(err)
		}
		e := obs.Events("FailedScheduling")
		t.Logf("FailedScheduling: %q; all 3 ready after node-2 was added", e[0].Message)
	})

	// The existing provider on the same cluster: it creates and deletes only its
	// own namespace and refuses one it did not create.
	t.Run("existing provider touches only its namespace", func(t *testing.T) {
		ex := &cluster.Existing{Kubeconfig: c.Kubeconfig}
		if ok, reason := ex.Available(); !ok {
			t.Fatal(reason)
		}
		foreign := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "foreign"}}
		if _, err := c.Client.CoreV1().Namespaces().Create(ctx, foreign, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := ex.Create(ctx, "foreign"); err == nil || !strings.Contains(err.Error(), "not created by lab foreign") {
			t.Fatalf("existing provider adopted a namespace it did not create (err %v)", err)
		}
		v, err := ex.Create(ctx, "visitor")
		if err != nil {
			t.Fatal(err)
		}
		if err := v.AddNode(ctx, "node-x", "1", "1Gi"); !errors.Is(err, cluster.ErrUnsupported) {
			t.Errorf("AddNode on an existing cluster: %v, want ErrUnsupported", err)
		}
		ns, err := c.Client.CoreV1().Namespaces().Get(ctx, "visitor", metav1.GetOptions{})
		if err != nil || ns.Labels[cluster.LabelLab] != "visitor" {
			t.Fatalf("namespace visitor: %v labels %v", err, ns.Labels)
		}
		if err := v.Delete(ctx); err != nil {
			t.Fatal(err)
		}
		ns, err = c.Client.CoreV1().Namespaces().Get(ctx, "visitor", metav1.GetOptions{})
		if err == nil && ns.DeletionTimestamp == nil {
			t.Error("namespace visitor not being deleted after Delete")
		}
		if _, err := c.Client.CoreV1().Namespaces().Get(ctx, c.Namespace, metav1.GetOptions{}); err != nil {
			t.Errorf("the kwok lab's own namespace is gone: %v", err)
		}
	})
}

// A cluster is deleted when the context given to Create ends (Ctrl-C in a CLI
// using signal.NotifyContext), with no process or file left.
func TestKwokClusterDeletedWhenContextEnds(t *testing.T) {
	requireTools(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := (&cluster.Kwok{}).Create(ctx, "ctx-lab")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Delete(context.Background())
	if len(proc.Under(c.Dir)) < 5 {
		t.Fatalf("expected etcd, apiserver, controller-manager, scheduler, kwok and metrics-server under %s, found pids %v", c.Dir, proc.Under(c.Dir))
	}
	cancel()
	deadline := time.Now().Add(time.Minute)
	for {
		_, statErr := os.Stat(c.Dir)
		pids := proc.Under(c.Dir)
		if os.IsNotExist(statErr) && len(pids) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a minute after cancel: dir stat %v, processes %v", statErr, pids)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := c.Delete(context.Background()); err != nil {
		t.Errorf("Delete after the context's cleanup: %v", err)
	}
}

func last[T any](s []T) any {
	if len(s) == 0 {
		return "none"
	}
	return fmt.Sprintf("%+v", s[len(s)-1])
}
