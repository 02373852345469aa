package lab

import (
	"context"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/chaoslab/chaoslab/fakes/upstream"
)

// BenchmarkLabStart reports the median of the embedded lab's start time
// (lab + upstream + fault proxy, ready) over the benchmark's iterations;
// run with -benchtime 20x for the median of 20.
func BenchmarkLabStart(b *testing.B) {
	ctx := context.Background()
	var took []time.Duration
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		l, err := New(ctx, WithDir(b.TempDir()))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := l.Upstream(ctx, "api", upstream.Config{}); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(t0))
		_ = l.Close()
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "median-start-ms")
}

// BenchmarkInjectedLatency measures how far the realised latency is from the
// configured one: median over requests on a keep-alive connection, fault on
// minus fault off, minus the configured value.
func BenchmarkInjectedLatency(b *testing.B) {
	for _, d := range []time.Duration{5 * time.Millisecond, 50 * time.Millisecond, 500 * time.Millisecond} {
		b.Run(d.String(), func(b *testing.B) {
			ctx := context.Background()
			l, err := New(ctx, WithDir(b.TempDir()))
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			up, err := l.Upstream(ctx, "api", upstream.Config{})
			if err != nil {
				b.Fatal(err)
			}
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr}
			median := func(n int) time.Duration {
				var ds []time.Duration
				for i := 0; i < n; i++ {
					t0 := time.Now()
					resp, err := c.Get(up.URL() + "/")
					if err != nil {
						b.Fatal(err)
					}
					resp.Body.Close()
					ds = append(ds, time.Since(t0))
				}
				sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
				return ds[len(ds)/2]
			}
			n := max(b.N, 9)
			base := median(n)
			a, err := up.Proxy.Apply(ctx, Latency{Latency: d})
			if err != nil {
				b.Fatal(err)
			}
			got := median(n) - base
			_ = up.Proxy.Remove(ctx, a)
			b.ReportMetric(float64((got-d).Microseconds())/1000, "error-ms")
			b.ReportMetric(100*float64(got-d)/float64(d), "error-%")
		})
	}
}
