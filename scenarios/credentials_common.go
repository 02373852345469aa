package scenarios

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/chaoslab/chaoslab/fakes/app"
	"github.com/chaoslab/chaoslab/fakes/imds"
	"github.com/chaoslab/chaoslab/fakes/upstream"
	"github.com/chaoslab/chaoslab/lab"
	"github.com/chaoslab/chaoslab/load"
	"github.com/chaoslab/chaoslab/reports"
)

// The credentials family's topology: the fake metadata service (IMDS), the
// "Elasticsearch" the service calls on every request (a fake upstream behind
// a fault proxy, 18 ms as in the seed incident) and the instrumented app,
// which gets AWS credentials through the real aws-sdk-go-v2 before each call.
// Everything is driven through the fakes' HTTP control and stats endpoints,
// so the same code runs on any backend.

// elasticsearchLatency is the dependency's latency in the seed incident.
const elasticsearchLatency = 18 * time.Millisecond

// credHeaders are the app's response headers a credentials load records.
var credHeaders = append(append([]string(nil), load.DefaultHeaders...),
	app.HeaderCredsExpiration, app.HeaderRule, app.HeaderDNSDuration, app.HeaderDependencyStatus)

// credClient is the lab's own HTTP client for control endpoints and probes.
// No keep-alive: it holds no idle connection (and goroutine) past a call.
var credClient = &http.Client{Timeout: 5 * time.Second,
	Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}

// labIMDS is a running fake metadata service and its control client.
type labIMDS struct{ *lab.IMDS }

// startIMDS starts the fake metadata service on the lab's backend.
func (s *S) startIMDS(cfg imds.Config) *labIMDS {
	m, err := s.Lab.IMDS(s.Ctx, cfg)
	s.Must(err, "starting the metadata service")
	return &labIMDS{m}
}

// state reads the service's behaviour and counters.
func (m *labIMDS) state(s *S) imds.State {
	st, err := m.Control.State(s.Ctx)
	s.Must(err, "reading the metadata service's counters")
	return st
}

// apply changes the service's behaviour and puts the change on the
// timeline as kind ("fault-applied", "fault-removed", "note") with detail;
// the report shades the window between an applied and a removed fault of the
// same detail.
func (m *labIMDS) apply(s *S, st imds.Settings, kind, detail string) {
	_, err := m.Control.Apply(s.Ctx, st)
	b, _ := json.Marshal(st)
	s.Must(err, "changing the metadata service "+string(b))
	s.Lab.Record(kind, "imds", detail)
}

// document fetches the instance role's credentials the way an SDK does
// (IMDSv1: role name, then the document), as a trainee's curl would.
func (m *labIMDS) document(ctx context.Context) (imds.Document, error) {
	var doc imds.Document
	role, err := credGet(ctx, m.URL()+imds.CredentialsPath)
	if err != nil {
		return doc, err
	}
	body, err := credGet(ctx, m.URL()+imds.CredentialsPath+strings.TrimSpace(role))
	if err != nil {
		return doc, err
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		return doc, fmt.Errorf("credentials document: %w", err)
	}
	return doc, nil
}

// lifetime is how long the credentials the service hands out now are valid:
// Expiration minus LastUpdated, as read from a real document. It is the
// realisation check of a TTL change.
func (m *labIMDS) lifetime(s *S) time.Duration {
	doc, err := m.document(s.Ctx)
	s.Must(err, "fetching a credentials document")
	issued, err1 := time.Parse(time.RFC3339, doc.LastUpdated)
	exp, err2 := time.Parse(time.RFC3339, doc.Expiration)
	if err1 != nil || err2 != nil || doc.Code != "Success" {
		s.Failf("credentials document: Code %q LastUpdated %q Expiration %q", doc.Code, doc.LastUpdated, doc.Expiration)
	}
	return exp.Sub(issued)
}

func credGet(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := credClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(b)))
	}
	return string(b), nil
}

// labApp is a running instrumented app.
type labApp struct {
	*lab.App
	rule app.Rule
}

// startApp starts the instrumented app; its metadata service and dependency
// are in cfg.
func (s *S) startApp(cfg app.Config) *labApp {
	a, err := s.Lab.App(s.Ctx, cfg)
	s.Must(err, "starting the app (rule "+string(cfg.Rule)+")")
	s.Note("app started: " + a.Rule())
	return &labApp{App: a, rule: cfg.Rule}
}

// stop closes an app early (the pod replaced by a new one).
func (a *labApp) stop(s *S) {
	s.Must(a.Close(), "stopping the app")
	s.Note("app (rule " + string(a.rule) + ") stopped")
}

// stats reads the app's own counters.
func (a *labApp) stats(s *S) app.Stats {
	body, err := credGet(s.Ctx, a.URL()+app.ControlPrefix+"stats")
	s.Must(err, "reading the app's stats")
	var st app.Stats
	s.Must(json.Unmarshal([]byte(body), &st), "decoding the app's stats")
	return st
}

// appResponse is one request to the app as a probe saw it.
type appResponse struct {
	sent, done time.Time
	status     int
	body       string
	expiration time.Time // X-Creds-Expiration; zero when absent
}

// call sends one request to the app (warm-ups and probes, outside a load).
func (a *labApp) call(s *S) appResponse {
	r := appResponse{sent: time.Now()}
	req, err := http.NewRequestWithContext(s.Ctx, http.MethodGet, a.URL()+"/", nil)
	s.Must(err, "building a request")
	resp, err := credClient.Do(req)
	s.Must(err, "calling the app")
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	r.done, r.status, r.body = time.Now(), resp.StatusCode, strings.TrimSpace(string(b))
	r.expiration, _ = time.Parse(time.RFC3339, resp.Header.Get(app.HeaderCredsExpiration))
	return r
}

// warm sends one request that must succeed: the SDK's first credential
// fetch (and IMDSv2 token) happen here, before a measured load.
func (a *labApp) warm(s *S) appResponse {
	r := a.call(s)
	if r.status != http.StatusOK {
		s.Failf("warm-up request to the app (rule %s): %d %s", a.rule, r.status, r.body)
	}
	return r
}

// counterSample is a cumulative counter read at a moment.
type counterSample struct {
	at    time.Time
	value int64
}

// sampleWhile reads a cumulative counter before fn, every interval while fn
// runs, and after it: the raw material of a "per request over time" series.
func (s *S) sampleWhile(read func(context.Context) (int64, error), every time.Duration, fn func()) []counterSample {
	first, err := read(s.Ctx)
	s.Must(err, "reading a counter")
	out := []counterSample{{time.Now(), first}}
	var mu sync.Mutex
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if v, err := read(s.Ctx); err == nil {
					mu.Lock()
					out = append(out, counterSample{time.Now(), v})
					mu.Unlock()
				}
			}
		}
	}()
	func() {
		defer func() { close(stop); <-done }()
		fn()
	}()
	last, err := read(s.Ctx)
	s.Must(err, "reading a counter")
	return append(out, counterSample{time.Now(), last})
}

// perRequest turns counter samples into "counter increase per request"
// between consecutive samples (intervals without requests are left out). A
// request belongs to the interval of its midpoint: the calls it causes
// (metadata, DNS) happen inside it, so that splits the calls of requests
// straddling a sample about where they happened.
func perRequest(samples []counterSample, rs load.Results) []reports.Point {
	var pts []reports.Point
	for i := 1; i < len(samples); i++ {
		from, to := samples[i-1].at, samples[i].at
		n := 0
		for _, r := range rs {
			mid := r.Timestamp.Add(r.Latency / 2)
			if !mid.Before(from) && mid.Before(to) {
				n++
			}
		}
		if n == 0 {
			continue
		}
		pts = append(pts, reports.Point{Time: to, Value: float64(samples[i].value-samples[i-1].value) / float64(n)})
	}
	return pts
}

// imdsTotal reads the metadata service's call counter (control calls are
// not counted by the service).
func (m *labIMDS) total(ctx context.Context) (int64, error) {
	st, err := m.Control.State(ctx)
	return st.Total, err
}

// startElasticsearch starts the dependency the app calls on every request.
func (s *S) startElasticsearch() *lab.Upstream {
	up, err := s.Lab.Upstream(s.Ctx, "elasticsearch", upstream.Config{Default: upstream.Behaviour{Latency: elasticsearchLatency}})
	s.Must(err, "starting the dependency (Elasticsearch)")
	return up
}

// attackBeside drives the same load on two targets at once, from two
// attackers, and records both: a system and its control measured under the
// same machine noise.
func (s *S) attackBeside(name, url, ctlName, ctlURL string, p load.Pacer, d time.Duration, opts ...load.Option) (load.Results, load.Results) {
	t0 := time.Now()
	var rs, ctl load.Results
	var err, ctlErr error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); rs, err = load.Run(s.Ctx, get(url), p, d, opts...) }()
	go func() { defer wg.Done(); ctl, ctlErr = load.Run(s.Ctx, get(ctlURL), p, d, opts...) }()
	wg.Wait()
	if e := s.Ctx.Err(); e != nil {
		s.Failf("load %s interrupted: %v", name, e)
	}
	if (err != nil && len(rs) == 0) || (ctlErr != nil && len(ctl) == 0) {
		s.Failf("load %s: %v; control: %v", name, err, ctlErr)
	}
	s.RecordLoad(name, p.String(), t0, rs)
	s.RecordLoad(ctlName, p.String(), t0, ctl)
	return rs, ctl
}
