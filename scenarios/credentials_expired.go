package scenarios

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	. "github.com/chaoslab/chaoslab/assertions"
	"github.com/chaoslab/chaoslab/fakes/app"
	"github.com/chaoslab/chaoslab/fakes/imds"
	"github.com/chaoslab/chaoslab/lab"
	"github.com/chaoslab/chaoslab/load"
)

func init() {
	Register(Scenario{
		ID:    "credentials/expired-mid-run",
		Title: "The metadata service fails: errors begin when the cached credentials expire, not before",
		Symptom: "after the metadata service starts answering 500, every request is answered 200 until X-Creds-Expiration and 502 " +
			"ExpiredToken from then on; after it recovers, an app that drops expired credentials recovers at once, the pinned SDK alone does not",
		Story: `The metadata service (or the proxy in front of it) goes down. Nothing happens: requests keep succeeding, dashboards ` +
			`stay green, and the outage looks harmless. Then, minutes later, every request fails with ExpiredToken, although nothing ` +
			`changed at that moment. The failure started when the credentials the SDK had cached expired, not when the metadata ` +
			`service broke, which sends the on-call engineer looking at the wrong time window.

Worse, with the pinned aws-sdk-go-v2 the service does not come back when the metadata service does: after a failed ` +
			`refresh, its ec2rolecreds provider hands back the old credentials with their expiry pushed 5-15 minutes ahead, and the ` +
			`credentials cache does not ask again until that passes. The credentials are expired for AWS, valid for the SDK.

The lab compresses time: the metadata service hands out credentials that live 2 seconds (Expiration has whole seconds, ` +
			`so the real lifetime is read from X-Creds-Expiration), the SDK makes one attempt per metadata call (--imds-max-attempts 1; ` +
			`its default 3 attempts with backoff would spend seconds per request against a failing service), and the app answers 502 ` +
			`ExpiredToken for credentials past the Expiration the metadata service sent, as AWS would reject them.`,
		Lesson: `When errors start, ask what expired at that moment: compare the first error's time with the Expiration of the ` +
			`credentials in use (the app's X-Creds-Expiration here; the Expiration field of the metadata document in general) and ` +
			`look for metadata failures before it. A healthy metadata service now does not mean the cached credentials are fresh.

Recovery needs two things: the metadata service back, and a client that asks it again. The pinned Go SDK keeps expired ` +
			`credentials it extended after a failed refresh; an app that invalidates its credentials cache when it sees them expired ` +
			`(the app's --invalidate-expired) recovers on the next request, and a restart always does. Longer-lived credentials ` +
			`(EC2's ~6 h, refreshed well before expiry) give a metadata outage hours, not minutes, before it hurts.`,
		New: func() Play { return &credExpired{} },
	})
}

const (
	expiredLifetime = 2 * time.Second
	expiredRate     = 40.0 // both apps together
	// expiredMargin absorbs clock reading order: the load generator and the
	// app read the same wall clock at slightly different moments.
	expiredMargin = 10 * time.Millisecond
	imdsDown      = "metadata service answers 500"
)

// credExpired runs two copies of the same service side by side: "sdk" is
// the pinned SDK as it is, "invalidating" drops credentials it finds
// expired so the next request asks the metadata service again.
type credExpired struct {
	md   *labIMDS
	es   *lab.Upstream
	apps []*labApp // [sdk, invalidating]
	cfg  app.Config
}

var expiredAppNames = []string{"sdk", "invalidating"}

func (x *credExpired) Setup(s *S) {
	x.es = s.startElasticsearch()
	x.md = s.startIMDS(imds.Config{TTL: expiredLifetime})
	x.cfg = app.Config{IMDSEndpoint: x.md.URL(), DependencyURL: x.es.URL() + "/_search", Rule: app.RuleSDK, IMDSMaxAttempts: 1}
	inval := x.cfg
	inval.InvalidateExpired = true
	x.apps = []*labApp{s.startApp(x.cfg), s.startApp(inval)}

	md, role, a := x.md.URL(), x.md.Role(), x.apps[0].URL()
	s.Command("The credentials' Expiration, as the metadata service hands them out",
		"curl -s "+md+imds.CredentialsPath+role+" | grep -E 'LastUpdated|Expiration'")
	s.Command("The Expiration of the credentials the app is using, and its answer",
		"curl -si "+a+"/ | grep -i -E '^(HTTP|x-creds-expiration)'")
	s.Command("Watch the answers around expiry", "while true; do date +%T.%N; curl -s -o /dev/null -w '%{http_code}\\n' "+a+"/; sleep 0.2; done")
	s.Command("The app's refresh failures and expired-credential answers", "curl -s "+a+app.ControlPrefix+"stats")
	s.Command("Break the metadata service", "curl -s -X PUT "+md+imds.ControlPath+` -d '{"fail":"500"}'`)
	s.Command("Repair it", "curl -s -X PUT "+md+imds.ControlPath+` -d '{"fail":"none"}'`)
	s.Command("botocore (Debian python3-botocore) against the lab's metadata service",
		"AWS_EC2_METADATA_SERVICE_ENDPOINT="+md+" python3 -c \"import botocore.session; "+
			"c = botocore.session.get_session().get_component('credential_provider').get_provider('iam-role').load(); "+
			"print(c.access_key, c._expiry_time)\"")
}

func (x *credExpired) targets() []load.Target {
	var ts []load.Target
	for _, a := range x.apps {
		ts = append(ts, load.Target{Method: http.MethodGet, URL: a.URL() + "/"})
	}
	return ts
}

func (x *credExpired) attack(s *S, name string, d time.Duration) load.Results {
	return s.Attack(name, x.targets(), load.Constant(expiredRate), d, load.WithHeaders(credHeaders...))
}

// of is the results of app i.
func of(rs load.Results, i int) load.Results {
	return rs.Filter(func(r load.Result) bool { return r.Target == i })
}

// expirations counts the distinct X-Creds-Expiration values among 200s.
func expirations(rs load.Results) int {
	seen := map[string]bool{}
	for _, r := range rs {
		if r.Code == http.StatusOK && r.Headers[app.HeaderCredsExpiration] != "" {
			seen[r.Headers[app.HeaderCredsExpiration]] = true
		}
	}
	return len(seen)
}

func (x *credExpired) Run(s *S) {
	s.Phase("baseline", "2-second credentials, healthy metadata service: refreshed at expiry without an error", func() {
		got := x.md.lifetime(s)
		s.Expect(got.Seconds(), "the metadata service hands out 2-second credentials").To(BeAround(expiredLifetime.Seconds(), 1, "s"))
		// Longer than one lifetime, so every app crosses an expiry.
		rs := x.attack(s, "baseline", expiredLifetime+300*time.Millisecond)
		for i, name := range expiredAppNames {
			rsI := of(rs, i)
			s.Expect(rsI, name+" app: every request succeeds").To(HaveSuccessShare(">=", 0.99))
			s.Expect(expirations(rsI), name+" app: credentials were refreshed at expiry").To(BeNumber(">=", 2, "credential sets"))
		}
	})

	var expiry []time.Time
	var stats0 []app.Stats
	s.Phase("fault", "the metadata service fails right after the apps refreshed", func() {
		// Wait for both apps to fetch a new credential set (a refresh
		// happens at the old set's expiry), so the outage starts with a
		// whole lifetime of cached credentials ahead.
		expiry = make([]time.Time, len(x.apps))
		for i, a := range x.apps {
			expiry[i] = a.warm(s).expiration
		}
		old := append([]time.Time(nil), expiry...)
		s.Eventually("a credential refresh in both apps", 2*expiredLifetime+time.Second, 10*time.Millisecond, func() error {
			for i, a := range x.apps {
				if expiry[i].After(old[i]) {
					continue
				}
				if r := a.warm(s); r.expiration.After(old[i]) {
					expiry[i] = r.expiration
				} else {
					return fmt.Errorf("%s app still holds credentials expiring at %s", expiredAppNames[i], old[i].Format(time.RFC3339))
				}
			}
			return nil
		})
		for _, a := range x.apps {
			stats0 = append(stats0, a.stats(s))
		}
		x.md.apply(s, imds.Settings{Fail: imds.Fail500}, "fault-applied", imdsDown)
		if _, err := credGet(s.Ctx, x.md.URL()+imds.CredentialsPath); err == nil || !strings.Contains(err.Error(), "500") {
			s.Failf("the metadata service should answer 500 now, got %v", err)
		}
		failedAt := time.Now()
		s.Note("metadata service answers 500 (probed)")
		last := expiry[0]
		for _, e := range expiry {
			if e.After(last) {
				last = e
			}
		}
		rs := x.attack(s, "metadata service down", time.Until(last)+600*time.Millisecond)
		for i, name := range expiredAppNames {
			e := expiry[i]
			rsI := of(rs, i)
			ok := rsI.Filter(func(r load.Result) bool { return r.Code == http.StatusOK })
			bad := rsI.Filter(func(r load.Result) bool { return r.Code != http.StatusOK })
			s.Measure(name+" app: cached credentials left when the metadata service failed", e.Sub(failedAt).Seconds(), "s",
				"X-Creds-Expiration "+e.Format(time.RFC3339))
			s.Expect(len(ok), name+" app: the cached credentials keep serving until they expire").To(BeNumber(">=", 10, "requests answered 200"))
			if len(ok) > 0 {
				lastOK := ok[len(ok)-1].Timestamp
				for _, r := range ok {
					if r.Timestamp.After(lastOK) {
						lastOK = r.Timestamp
					}
				}
				s.Measure(name+" app: last 200 sent, relative to expiry", load.Millis(lastOK.Sub(e)), "ms", "")
				s.Expect(load.Millis(lastOK.Sub(e)), name+" app: every 200 was asked for before X-Creds-Expiration").
					To(BeNumber("<", load.Millis(expiredMargin), "ms after expiry"))
			}
			if len(bad) == 0 {
				s.Failf("%s app: no error after its credentials expired at %s", name, e.Format(time.RFC3339))
			}
			firstBad := bad[0].End()
			for _, r := range bad {
				if r.End().Before(firstBad) {
					firstBad = r.End()
				}
			}
			s.Measure(name+" app: first error answered, relative to expiry", load.Millis(firstBad.Sub(e)), "ms", "")
			s.Expect(load.Millis(firstBad.Sub(e)), name+" app: no error before X-Creds-Expiration").
				To(BeNumber(">", -load.Millis(expiredMargin), "ms after expiry"))
			after := rsI.Filter(func(r load.Result) bool { return !r.Timestamp.Before(e.Add(expiredMargin)) })
			s.Expect(after, name+" app: every request after expiry fails").To(HaveStatusShare(http.StatusBadGateway, ">=", 0.99))
			st := x.apps[i].stats(s)
			s.Measure(name+" app: refresh failures", float64(st.RefreshFailures-stats0[i].RefreshFailures), "fetches", st.LastRefreshError)
			s.Measure(name+" app: answers with expired credentials", float64(st.ExpiredCredentials-stats0[i].ExpiredCredentials), "requests", "")
			if i == 0 {
				s.Expect(after, "sdk app: AWS would reject the credentials as expired").To(HaveBodyShare("ExpiredToken", ">=", 0.99))
				s.Expect(float64(st.RefreshFailures-stats0[i].RefreshFailures), "sdk app: the SDK tried one refresh, then kept handing out the expired credentials").
					To(BeNumber("==", 1, "failed refreshes"))
			}
		}
	})

	s.Phase("fix", "the metadata service recovers", func() {
		x.md.apply(s, imds.Settings{Fail: imds.FailNone}, "fault-removed", imdsDown)
		got := x.md.lifetime(s)
		s.Expect(got.Seconds(), "the metadata service hands out credentials again").To(BeAround(expiredLifetime.Seconds(), 1, "s"))
	})

	s.Phase("recovery", "the app that drops expired credentials recovers; the pinned SDK alone does not", func() {
		sdk0 := x.apps[0].stats(s)
		rs := x.attack(s, "metadata service back", time.Second)
		s.Expect(of(rs, 1), "invalidating app: requests succeed again").To(HaveSuccessShare(">=", 0.99))
		s.Expect(of(rs, 0), "sdk app: still ExpiredToken: the SDK keeps its extended credentials for 5-15 minutes").
			To(HaveBodyShare("ExpiredToken", ">=", 0.99))
		sdk1 := x.apps[0].stats(s)
		s.Expect(float64(sdk1.CredentialFetches-sdk0.CredentialFetches), "sdk app: it does not even ask the metadata service").
			To(BeNumber("==", 0, "credential fetches"))
	})

	s.Phase("restart", "roll the stuck app out again, with --invalidate-expired", func() {
		x.apps[0].stop(s)
		cfg := x.cfg
		cfg.InvalidateExpired = true
		x.apps[0] = s.startApp(cfg)
		rs := x.attack(s, "after the rollout", time.Second)
		s.Expect(rs, "both apps serve again").To(HaveSuccessShare(">=", 0.99))
	})
}
