// Package autoscale is the autoscaling toolkit on top of a lab cluster
// (package cluster): a workload (Deploy), its HorizontalPodAutoscaler (HPA),
// an observer of replicas, HPA status and events (Observe), pod metrics, and
// on kwok the replica simulator (Simulate). One call shape: a constructor
// takes (ctx, cluster, spec) and returns a handle; the handle's methods never
// take the cluster again.
//
// On node, kind and existing clusters the workload's pods are real (the
// project's own binary, real CPU per request); on kwok they are simulated:
// Deploy, HPA and Simulate close the autoscaling loop with the
// real controllers: each Running pod gets a replica server on loopback, the
// requests a replica serves become its CPU usage (UsageMillicores, written to the
// pod annotation kwok.x-k8s.io/usage-cpu every second), kwok serves that as the
// node's kubelet /metrics/resource, metrics-server (a local process) scrapes it
// every 10 s, and the HorizontalPodAutoscaler controller scales the Deployment.
//
// Time is compressed (HPAControllerManagerArgs): the HPA syncs every second
// instead of 15 s, the CPU initialization period is 5 s instead of 5 min. The
// 10 s metrics-server resolution (its minimum) then dominates: a scale-up shows
// about 10 s after the load starts.
//
// One consequence to design scenarios around: client-go's event recorder
// allows 25 events per object and event type, then one per 5 minutes. A failing
// HPA syncing every second emits two Warning events per sync, so its first dozen
// seconds of Warnings are all a scenario will see (Normal events such as
// SuccessfulRescale have their own budget); assert on HPA conditions (always
// current) and create HPAs after Workload.WaitMetrics so those Warnings are the
// ones that matter.
package autoscale
