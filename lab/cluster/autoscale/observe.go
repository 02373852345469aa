package autoscale

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/chaoslab/chaoslab/lab/cluster"
)

// ReplicaSample is a Deployment's replica counts at one moment.
type ReplicaSample struct {
	At                        time.Time
	Deployment                string
	Desired, Ready, Available int32
}

// HPASample is an HPA's status at one moment.
type HPASample struct {
	At               time.Time
	HPA              string
	Current, Desired int32
	CPUPercent       *int32 // nil while the controller cannot compute it
	Conditions       []autoscalingv2.HorizontalPodAutoscalerCondition
}

// Event is a Kubernetes Event as the lab saw it.
type Event struct {
	At      time.Time // when the lab observed it
	Type    string    // Normal, Warning
	Reason  string    // SuccessfulRescale, FailedGetResourceMetric, FailedScheduling, ...
	Kind    string    // involved object's kind
	Object  string    // involved object's name
	Message string
	Count   int32
}

// eventOf is what the lab keeps of a Kubernetes event seen at at.
func eventOf(e *corev1.Event, at time.Time) Event {
	return Event{At: at, Type: e.Type, Reason: e.Reason, Kind: e.InvolvedObject.Kind,
		Object: e.InvolvedObject.Name, Message: strings.TrimSpace(e.Message), Count: e.Count}
}

// String is the event as one line, the way the report shows it:
// "Warning FailedScheduling Pod/web-x: 0/1 nodes are available: ...".
func (e Event) String() string {
	return fmt.Sprintf("%s %s %s/%s: %s", e.Type, e.Reason, e.Kind, e.Object, e.Message)
}

// Observer records, for one namespace, Deployment replicas, HPA status and
// Events over time: the evidence a scenario asserts on and reports.
type Observer struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	replicas []ReplicaSample
	hpas     []HPASample
	events   []Event
	seen     map[string]int32 // event uid -> count already recorded
	changed  chan struct{}    // closed and replaced on every record
}

// Observe starts recording namespace ns (default the lab namespace) until
// Close or ctx ends. Events from before Observe are recorded too (the informer
// lists them first), with At = the time Observe saw them.
func Observe(ctx context.Context, c *cluster.Cluster, ns string) (*Observer, error) {
	if ns == "" {
		ns = c.Namespace
	}
	ctx, cancel := context.WithCancel(ctx)
	o := &Observer{cancel: cancel, done: make(chan struct{}), seen: map[string]int32{}, changed: make(chan struct{})}
	f := informers.NewSharedInformerFactoryWithOptions(c.Client, 0, informers.WithNamespace(ns))
	deps := f.Apps().V1().Deployments().Informer()
	hpas := f.Autoscaling().V2().HorizontalPodAutoscalers().Informer()
	evs := f.Core().V1().Events().Informer()
	handlers := []struct {
		inf cache.SharedIndexInformer
		fn  func(any)
	}{
		{deps, func(obj any) {
			if d, ok := obj.(*appsv1.Deployment); ok {
				desired := int32(1)
				if d.Spec.Replicas != nil {
					desired = *d.Spec.Replicas
				}
				o.record(func() {
					s := ReplicaSample{At: time.Now(), Deployment: d.Name, Desired: desired, Ready: d.Status.ReadyReplicas, Available: d.Status.AvailableReplicas}
					if last := o.lastReplicas(d.Name); last == nil || last.Desired != s.Desired || last.Ready != s.Ready || last.Available != s.Available {
						o.replicas = append(o.replicas, s)
					}
				})
			}
		}},
		{hpas, func(obj any) {
			if h, ok := obj.(*autoscalingv2.HorizontalPodAutoscaler); ok {
				o.record(func() {
					o.hpas = append(o.hpas, HPASample{At: time.Now(), HPA: h.Name, Current: h.Status.CurrentReplicas,
						Desired: h.Status.DesiredReplicas, CPUPercent: HPACPUPercent(h), Conditions: slices.Clone(h.Status.Conditions)})
				})
			}
		}},
		{evs, func(obj any) {
			if e, ok := obj.(*corev1.Event); ok {
				o.record(func() {
					if n, ok := o.seen[string(e.UID)]; ok && n == e.Count {
						return
					}
					o.seen[string(e.UID)] = e.Count
					o.events = append(o.events, eventOf(e, time.Now()))
				})
			}
		}},
	}
	for _, h := range handlers {
		fn := h.fn
		if _, err := h.inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: fn, UpdateFunc: func(_, n any) { fn(n) }}); err != nil {
			cancel()
			return nil, err
		}
	}
	f.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), deps.HasSynced, hpas.HasSynced, evs.HasSynced) {
		cancel()
		f.Shutdown()
		return nil, fmt.Errorf("observe %s: informers did not sync: %w", ns, ctx.Err())
	}
	go func() {
		<-ctx.Done()
		f.Shutdown()
		close(o.done)
	}()
	return o, nil
}

func (o *Observer) record(f func()) {
	o.mu.Lock()
	defer o.mu.Unlock()
	f()
	close(o.changed)
	o.changed = make(chan struct{})
}

func (o *Observer) lastReplicas(dep string) *ReplicaSample {
	for i := len(o.replicas) - 1; i >= 0; i-- {
		if o.replicas[i].Deployment == dep {
			return &o.replicas[i]
		}
	}
	return nil
}

// Replicas is the recorded replica series of Deployment dep (one sample per change).
func (o *Observer) Replicas(dep string) []ReplicaSample {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []ReplicaSample
	for _, s := range o.replicas {
		if s.Deployment == dep {
			out = append(out, s)
		}
	}
	return out
}

// HPA is the recorded status series of the HPA called name.
func (o *Observer) HPA(name string) []HPASample {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []HPASample
	for _, s := range o.hpas {
		if s.HPA == name {
			out = append(out, s)
		}
	}
	return out
}

// Events returns the recorded events, only those with one of reasons if any.
func (o *Observer) Events(reasons ...string) []Event {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []Event
	for _, e := range o.events {
		if len(reasons) == 0 || slices.Contains(reasons, e.Reason) {
			out = append(out, e)
		}
	}
	return out
}

// WaitFor returns when cond holds, re-evaluating it on every recorded change;
// on ctx's end it returns ctx's error with what failed to hold.
func (o *Observer) WaitFor(ctx context.Context, what string, cond func(*Observer) bool) error {
	for {
		o.mu.Lock()
		ch := o.changed
		o.mu.Unlock()
		if cond(o) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-o.done:
			return fmt.Errorf("waiting for %s: observer closed", what)
		}
	}
}

// Close stops recording and waits for the informers to stop. Idempotent.
func (o *Observer) Close() {
	o.cancel()
	<-o.done
}

// HasCondition reports whether the latest sample of HPA name has condition t
// with status s.
func (o *Observer) HasCondition(name string, t autoscalingv2.HorizontalPodAutoscalerConditionType, s corev1.ConditionStatus) bool {
	hs := o.HPA(name)
	if len(hs) == 0 {
		return false
	}
	for _, c := range hs[len(hs)-1].Conditions {
		if c.Type == t {
			return c.Status == s
		}
	}
	return false
}

// MaxReplicas is the highest Ready count recorded for Deployment dep.
func (o *Observer) MaxReplicas(dep string) int32 {
	var m int32
	for _, s := range o.Replicas(dep) {
		m = max(m, s.Ready)
	}
	return m
}
