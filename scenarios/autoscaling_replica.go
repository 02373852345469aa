package scenarios

import (
	"context"
	"fmt"
	"time"

	"github.com/chaoslab/chaoslab/fakes/upstream"
	"github.com/chaoslab/chaoslab/lab/cluster/autoscale"
)

// replicaModel is how one simulated pod of the autoscaling family serves, and
// what that costs in CPU. kwok pods run no container, so the lab plays each
// Running pod with a server on loopback (autoscale.Simulate) built from this model:
//
//   - the fake upstream answers every request after Service (its latency);
//   - it serves Workers requests at a time (--workers); the rest wait in
//     line (first come, first served) until a worker is free.
//
// So one replica serves at most Workers/Service requests per second. Below
// that its latency is Service; above it the line grows for as long as the
// overload lasts and latency with it: the slow, still-succeeding pod an SRE
// sees before the autoscaler catches up. A request whose client gives up
// leaves the line.
//
// CPU usage is modelled, not measured: every request the replica answers
// costs CPUCost millicore-seconds (autoscale.UsageMillicores), so a saturated
// replica uses Capacity × CPUCost millicores. The simulator writes that to the
// pod's kwok usage annotation every second and the real metrics-server and
// HPA controller take it from there.
type replicaModel struct {
	Workers int
	Service time.Duration
	CPUCost float64 // millicore-seconds per answered request
}

// webReplica is the model every autoscaling scenario uses: 2 workers × 50 ms
// is 40 requests/s per replica; 5 millicore-seconds per request is 200m when
// saturated, i.e. 10 requests/s is 50m, half of a 100m CPU request.
var webReplica = replicaModel{Workers: 2, Service: 50 * time.Millisecond, CPUCost: 5}

// Capacity is the most requests per second one replica answers.
func (m replicaModel) Capacity() float64 { return float64(m.Workers) / m.Service.Seconds() }

// Millicores is the CPU a replica answering rate requests/s uses (at most
// its capacity).
func (m replicaModel) Millicores(rate float64) float64 { return min(rate, m.Capacity()) * m.CPUCost }

// String says the model in one line for the report.
func (m replicaModel) String() string {
	return fmt.Sprintf("%d workers × %s per request = %.0f requests/s per replica; %g millicore-seconds per request",
		m.Workers, m.Service, m.Capacity(), m.CPUCost)
}

// factory plays each pod with startReplica.
func (m replicaModel) factory() autoscale.ReplicaFactory {
	return func(ctx context.Context, pod string) (string, func() error, error) {
		r, err := m.startReplica(ctx, pod)
		if err != nil {
			return "", nil, err
		}
		return r.URL(), r.Close, nil
	}
}

// startReplica is one simulated pod: the fake upstream on its own loopback
// listener, answering after Service with Workers requests at a time (its
// --workers line), exactly as the real pods run it (realPodSpec).
func (m replicaModel) startReplica(ctx context.Context, pod string) (*upstream.Server, error) {
	if m.Workers < 1 || m.Service <= 0 {
		return nil, fmt.Errorf("replica model: need at least one worker and a positive service time, got %d and %s", m.Workers, m.Service)
	}
	return upstream.Start(ctx, upstream.Config{Name: pod, Default: upstream.Behaviour{Latency: m.Service, Workers: m.Workers}})
}
