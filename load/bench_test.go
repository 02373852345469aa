package load

import (
	"context"
	"net/http"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/chaoslab/chaoslab/fakes/upstream"
)

// BenchmarkRecorderVsVegeta drives the fake upstream on loopback as fast as
// a fixed pool of workers can, for the same time, once with raw vegeta and
// once through the recorder (tracing, header capture, classification), and
// reports both rates and their ratio: the recorder's overhead, measured in
// one run on the same machine.
func BenchmarkRecorderVsVegeta(b *testing.B) {
	up, err := upstream.Start(context.Background(), upstream.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer up.Close()
	const workers = 32
	d := 2 * time.Second
	// An unreachable rate: both run flat out with the same worker cap.
	const rate = 200000
	url := up.URL() + "/"
	var rawRate, recRate float64
	for i := 0; i < b.N; i++ {
		atk := vegeta.NewAttacker(vegeta.Workers(workers), vegeta.MaxWorkers(workers), vegeta.KeepAlive(true))
		tgt := vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: url})
		var m vegeta.Metrics
		for r := range atk.Attack(tgt, vegeta.Rate{Freq: rate, Per: time.Second}, d, "raw") {
			m.Add(r)
		}
		m.Close()
		rawRate = float64(m.Requests) / m.Duration.Seconds()

		rs, err := Run(context.Background(), []Target{{URL: url}}, Constant(rate), d,
			WithWorkers(workers), WithMaxWorkers(workers), WithMaxRate(rate))
		if err != nil {
			b.Fatal(err)
		}
		recRate = rs.Summarize().Rate
		if rs.Share(func(r Result) bool { return r.Code == 200 }) < 0.99 {
			b.Fatalf("recorder run not clean: %s", rs.Distribution())
		}
	}
	b.ReportMetric(rawRate, "raw-vegeta-req/s")
	b.ReportMetric(recRate, "recorder-req/s")
	b.ReportMetric(recRate/rawRate, "ratio")
}
