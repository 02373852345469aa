package docker

import (
	"context"
	"errors"
	"sort"
	"testing"
	"time"

	"github.com/chaoslab/chaoslab/fakes/upstream"

	"github.com/chaoslab/chaoslab/lab"
)

// BenchmarkDockerLabStart is BenchmarkLabStart on the docker backend: lab +
// upstream container + toxiproxy container + fault proxy, ready. The images
// are built (or found) by a first lab outside the measurement, reported as
// first-lab-ms; -benchtime 5x gives the median of 5.
func BenchmarkDockerLabStart(b *testing.B) {
	ctx := context.Background()
	start := func() (*lab.Lab, time.Duration) {
		t0 := time.Now()
		l, err := lab.New(ctx, lab.WithBackend(Name), lab.WithDir(b.TempDir()))
		if errors.Is(err, ErrUnavailable) {
			b.Skip(ErrUnavailable.Error())
		}
		if err != nil {
			b.Fatal(err)
		}
		if _, err := l.Upstream(ctx, "api", upstream.Config{}); err != nil {
			_ = l.Close()
			b.Fatal(err)
		}
		return l, time.Since(t0)
	}
	l, first := start()
	_ = l.Close()
	var took []time.Duration
	for i := 0; i < b.N; i++ {
		l, d := start()
		took = append(took, d)
		_ = l.Close()
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	b.ReportMetric(float64(first.Milliseconds()), "first-lab-ms")
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "median-start-ms")
}
