package load

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/chaoslab/chaoslab/fakes/upstream"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func startUpstream(t *testing.T, cfg upstream.Config) *upstream.Server {
	t.Helper()
	s, err := upstream.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestRunRecordsEveryResult(t *testing.T) {
	up := startUpstream(t, upstream.Config{Name: "api", Default: upstream.Behaviour{Latency: 5 * time.Millisecond}})
	targets := []Target{{URL: up.URL() + "/a"}, {URL: up.URL() + "/b?status=503"}}
	rs, err := Run(context.Background(), targets, Constant(100), time.Second, WithKeepAlive(false))
	if err != nil {
		t.Fatal(err)
	}
	// 100/s for 1 s: vegeta sends the first at t=0, so 100 ± a few.
	if len(rs) < 90 || len(rs) > 102 {
		t.Fatalf("got %d results for 100/s over 1s", len(rs))
	}
	for i, r := range rs {
		want := 200
		if r.Target == 1 {
			want = 503
		}
		if r.Code != want {
			t.Fatalf("result %d (target %d): code %d, want %d", i, r.Target, r.Code, want)
		}
		if r.Headers["X-Upstream-Name"] != "api" || !strings.Contains(r.Body, `"upstream":"api"`) {
			t.Fatalf("headers/body not recorded: %+v", r)
		}
		if r.Phases.Connect <= 0 || r.Phases.TTFB < 5*time.Millisecond || r.Phases.Reused {
			t.Fatalf("phases not recorded for a fresh connection: %+v", r.Phases)
		}
		if !strings.Contains(r.Body, `"X-Vegeta-Seq"`) || strings.Contains(r.Body, targetHeader) {
			t.Fatalf("the bookkeeping header leaked to the upstream: %s", r.Body)
		}
	}
	if share := rs.Share(func(r Result) bool { return r.Code == 503 }); share < 0.45 || share > 0.55 {
		t.Fatalf("503 share %v, want half (round robin)", share)
	}
}

func TestErrorKinds(t *testing.T) {
	up := startUpstream(t, upstream.Config{})
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	cases := map[ErrorKind]string{
		ErrReset:     up.URL() + "/?mode=reset",
		ErrEOF:       up.URL() + "/?mode=close",
		ErrMalformed: up.URL() + "/?mode=malformed",
		ErrRefused:   closedURL,
		ErrTimeout:   up.URL() + "/?latency=2s",
	}
	for want, url := range cases {
		rs, err := Run(context.Background(), []Target{{URL: url}}, Constant(20), 200*time.Millisecond,
			WithTimeout(300*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		if got := rs.Share(func(r Result) bool { return r.ErrorKind == want && r.Code == 0 }); got != 1 {
			t.Errorf("%s: %s (first error %q)", want, rs.Distribution(), rs[0].Error)
		}
	}
}

func TestTLSPhasesAndUnknownAuthority(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the rejected handshakes are the point
	srv.StartTLS()
	defer srv.Close()
	rs, err := Run(context.Background(), []Target{{URL: srv.URL}}, Constant(20), 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if rs.Share(func(r Result) bool { return r.ErrorKind == ErrUnknownAuthority }) != 1 {
		t.Fatalf("want unknown-authority for an untrusted server: %s", rs.Distribution())
	}
	tr := srv.Client().Transport.(*http.Transport)
	rs, err = Run(context.Background(), []Target{{URL: srv.URL}}, Constant(20), 200*time.Millisecond,
		WithTLSConfig(&tls.Config{RootCAs: tr.TLSClientConfig.RootCAs}), WithKeepAlive(false))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.Code != 200 || r.Phases.TLS <= 0 {
			t.Fatalf("trusted TLS: %+v", r)
		}
	}
	srv.CloseClientConnections()
}

func TestSafety(t *testing.T) {
	ctx := context.Background()
	cases := map[string]func() error{
		"not loopback": func() error {
			_, err := Run(ctx, []Target{{URL: "http://192.0.2.1/"}}, Constant(1), time.Second)
			return err
		},
		"over the rate cap": func() error {
			_, err := Run(ctx, []Target{{URL: "http://127.0.0.1:9/"}}, Constant(6000), time.Second)
			return err
		},
		"over the duration cap": func() error {
			_, err := Run(ctx, []Target{{URL: "http://127.0.0.1:9/"}}, Constant(1), 61*time.Second)
			return err
		},
		"spike over the cap": func() error {
			_, err := Run(ctx, []Target{{URL: "http://[::1]:9/"}}, Spike(10, 9000, time.Second, time.Second), 3*time.Second)
			return err
		},
	}
	for name, f := range cases {
		if err := f(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestCancelEndsTheAttack(t *testing.T) {
	up := startUpstream(t, upstream.Config{Default: upstream.Behaviour{Latency: 10 * time.Second}})
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	go func() {
		for up.Stats().InFlight < 3 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	t0 := time.Now()
	err := Stream(ctx, []Target{{URL: up.URL()}}, Constant(50), 30*time.Second, func(Result) { n++ })
	if err == nil || time.Since(t0) > 5*time.Second {
		t.Fatalf("cancel: err %v after %s", err, time.Since(t0))
	}
	if n == 0 {
		t.Fatal("the aborted requests were not reported")
	}
}

func TestStepPacer(t *testing.T) {
	p := Spike(10, 100, time.Second, time.Second)
	cases := []struct {
		at   time.Duration
		hits float64
	}{{0, 0}, {time.Second, 10}, {1500 * time.Millisecond, 60}, {2 * time.Second, 110}, {3 * time.Second, 120}}
	for _, c := range cases {
		if got := p.(stepPacer).hitsAt(c.at); got < c.hits-1e-9 || got > c.hits+1e-9 {
			t.Errorf("hitsAt(%s) = %v, want %v", c.at, got, c.hits)
		}
	}
	// After 10 hits at 1s the 11th is due 10ms later (100/s).
	if w, stop := p.Pace(time.Second, 10); stop || w != 10*time.Millisecond {
		t.Errorf("Pace(1s, 10) = %s, %v", w, stop)
	}
	if p.MaxRate(0) != 100 || p.Rate(1500*time.Millisecond) != 100 || p.Rate(2500*time.Millisecond) != 10 {
		t.Error("MaxRate/Rate")
	}
}

func TestSeriesAndDistribution(t *testing.T) {
	t0 := time.Now()
	var rs Results
	for i := 0; i < 100; i++ {
		code := 200
		if i%4 == 0 {
			code = 504
		}
		rs = append(rs, Result{Seq: uint64(i), Timestamp: t0.Add(time.Duration(i) * 20 * time.Millisecond),
			Code: code, Latency: time.Duration(i+1) * time.Millisecond})
	}
	if d := rs.Distribution(); d != "75% 200, 25% 504 of 100 requests" {
		t.Fatalf("distribution %q", d)
	}
	b := rs.Series(t0, time.Second)
	if len(b) != 2 || b[0].Requests != 50 || b[1].Requests != 50 || b[0].Outcomes["504"] != 13 {
		t.Fatalf("series %+v", b)
	}
	if b[0].P50 < 24.9 || b[0].P50 > 25.1 {
		t.Fatalf("bucket p50 %v, want 25ms", b[0].P50)
	}
	if q := rs.Quantile(0.99); q < 98*time.Millisecond || q > 100*time.Millisecond {
		t.Fatalf("p99 %s", q)
	}
}
