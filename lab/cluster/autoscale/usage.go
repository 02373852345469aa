package autoscale

import (
	"math"
	"strconv"
	"time"
)

// AnnotationUsageCPU is the pod annotation kwok's ClusterResourceUsage (the
// usage-from-annotation example shipped with kwok) reads as the pod's CPU usage.
const AnnotationUsageCPU = "kwok.x-k8s.io/usage-cpu"

// UsageMillicores is the lab's CPU model for a simulated replica: CPU usage
// equals the rate of requests it served times what one request costs.
//
//	usage [millicores] = served [requests] / elapsed [s] × cost [millicore-seconds per request]
//
// For example 20 requests in 1 s at 25 millicore-seconds each is 500m, half a
// core. With a 100m CPU request that is 500% utilization; an HPA targeting 50%
// wants ceil(replicas × 500/50) = 10× the replicas (see DesiredReplicas). The
// result is rounded to the nearest millicore and never negative.
func UsageMillicores(served int64, elapsed time.Duration, costPerRequest float64) int64 {
	if served <= 0 || elapsed <= 0 || costPerRequest <= 0 {
		return 0
	}
	return int64(math.Round(float64(served) / elapsed.Seconds() * costPerRequest))
}

// FormatMillicores renders a CPU quantity the way Kubernetes does, e.g. "250m".
func FormatMillicores(m int64) string { return strconv.FormatInt(m, 10) + "m" }

// HPATolerance is the horizontal-pod-autoscaler-tolerance default: a usage
// ratio within 10% of 1 changes nothing.
const HPATolerance = 0.1

// DesiredReplicas is the HPA controller's rule for one resource metric,
// desired = ceil(current × currentUtilization / targetUtilization), ignoring
// changes within HPATolerance and clamped to [min, max]. Scenarios use it to
// state what they expect next to what the controller did.
func DesiredReplicas(current int32, currentPercent, targetPercent float64, lo, hi int32) int32 {
	desired := current
	if targetPercent > 0 {
		if ratio := currentPercent / targetPercent; math.Abs(ratio-1) > HPATolerance {
			desired = int32(math.Ceil(float64(current) * ratio))
		}
	}
	return max(lo, min(hi, desired))
}
