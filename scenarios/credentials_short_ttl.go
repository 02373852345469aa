package scenarios

import (
	"fmt"
	"time"

	. "github.com/chaoslab/chaoslab/assertions"
	"github.com/chaoslab/chaoslab/fakes/app"
	"github.com/chaoslab/chaoslab/fakes/imds"
	"github.com/chaoslab/chaoslab/lab"
	"github.com/chaoslab/chaoslab/load"
)

func init() {
	Register(Scenario{
		ID:    "credentials/short-ttl-refresh-storm",
		Title: "15-minute credentials make the SDK call the metadata service on every request",
		Symptom: "with 15-minute credentials and a 15-minute refresh window (Java SDK v1 rule) every request makes 2 metadata calls " +
			"and p50 is >= 3x the 6-hour baseline; 6-hour credentials bring it back to ~0 calls and p50 within 20% of the 6-hour " +
			"deployment measured beside it",
		Story: `A service ran on EC2 with ~20 ms latency: most of it was its Elasticsearch call. It moved to Kubernetes, where its pods ` +
			`get instance-role credentials through a metadata proxy (KIAM). Same code, same Elasticsearch, and latency went to 100-200 ms.

KIAM hands out credentials that live 15 minutes (its --session-duration default; kube2iam's is the same), while EC2's own ` +
			`metadata service hands out ~6-hour ones. The service used the AWS SDK for Java v1, which refreshes credentials that expire ` +
			`within 15 minutes, inside a synchronized method. A 15-minute credential is "about to expire" the moment it arrives, so ` +
			`every request first asked the metadata proxy for the role name and then for new credentials, one request at a time.

What this lab runs: the instrumented app gets credentials through the real aws-sdk-go-v2 (ec2rolecreds against the fake ` +
			`metadata service, 30 ms per call as a metadata proxy adds) and then calls a fake Elasticsearch (18 ms). The refresh rule is ` +
			`named: "java-v1" is a thin wrapper around the SDK provider that decides when to fetch the way Java SDK v1 does. It is a ` +
			`model because the pinned aws-sdk-go-v2 does not storm by itself: its ec2rolecreds provider ignores the cache's expiry ` +
			`window for credentials that expire within 15 minutes, so 15-minute credentials are fetched once. The scenario measures ` +
			`that too (the "sdk" rule with the same credentials and a 15-minute window), and the old-botocore rule (15-minute advisory ` +
			`refresh), which storms like Java v1. The EC2 deployment keeps serving beside the Kubernetes one, and the latencies ` +
			`that should be back to normal are compared with it, measured at the same moment, so the machine's noise cancels out.`,
		Lesson: `Latency that is higher by a constant amount on every request, on one platform only, with an unchanged dependency: look ` +
			`at what happens before the dependency call. Here it is two metadata round trips per request, visible as the credentials ` +
			`step in the app's timing (X-Creds-Duration) and as the metadata service's call counter growing with the request count.

Check what the metadata endpoint hands out: Expiration minus LastUpdated is the credential lifetime. Compare it with the SDK's ` +
			`refresh window (Java SDK v1: 15 min; botocore before its expiry extension: 15 min advisory / 10 min mandatory). A lifetime ` +
			`at or below the window means a refresh on every call.

Fix: a longer credential lifetime (KIAM --session-duration, kube2iam --iam-role-session-ttl; the role's maximum session ` +
			`duration must allow it) or an SDK whose window is smaller than the lifetime (newer SDKs, or IRSA/Pod Identity instead ` +
			`of a metadata proxy). Do not assume your SDK storms or does not: count the metadata calls per request, as here.`,
		New: func() Play { return &credStorm{} },
	})
}

// The storm is measured at a rate the serialised refresh can carry (each
// request holds the Java lock for two 30 ms metadata calls, ~60 ms), so the
// latency shows the refresh cost itself rather than an ever-growing queue.
// Loads without a storm run faster, for more samples per median.
const (
	stormIMDSLatency = 30 * time.Millisecond
	stormRate        = 10.0
	calmRate         = 20.0
	stormLoad        = 1500 * time.Millisecond
	stormShortLoad   = time.Second // the extra rules, measured for the report
	ec2Lifetime      = 6 * time.Hour
	kiamLifetime     = 15 * time.Minute
	kiamWindow       = 15 * time.Minute // Java SDK v1's EXPIRATION_THRESHOLD
	storySeries      = "metadata calls per request"
)

type credStorm struct {
	md *labIMDS
	es *lab.Upstream
	// onEC2 is the service as it ran on EC2 (6-hour credentials, cached
	// since the baseline); it keeps serving beside the redeployed onK8s and
	// is the live control that the no-storm latencies are compared with, so
	// the machine's noise at that moment cancels out. onK8s is started
	// lazily (an app fetches no credentials before its first request); sdk
	// and botocore are the same service under other refresh rules.
	onEC2, onK8s, sdk, botocore *labApp
}

func (x *credStorm) Setup(s *S) {
	x.es = s.startElasticsearch()
	x.md = s.startIMDS(imds.Config{TTL: ec2Lifetime, Latency: stormIMDSLatency})
	dep := x.es.URL() + "/_search"
	x.onEC2 = s.startApp(app.Config{IMDSEndpoint: x.md.URL(), DependencyURL: dep, Rule: app.RuleJavaV1})
	x.onK8s = s.startApp(app.Config{IMDSEndpoint: x.md.URL(), DependencyURL: dep, Rule: app.RuleJavaV1})
	x.sdk = s.startApp(app.Config{IMDSEndpoint: x.md.URL(), DependencyURL: dep, Rule: app.RuleSDK, ExpiryWindow: kiamWindow})
	x.botocore = s.startApp(app.Config{IMDSEndpoint: x.md.URL(), DependencyURL: dep, Rule: app.RuleBotocore})

	md, role := x.md.URL(), x.md.Role()
	s.Command("The instance role, as the SDK asks for it first", "curl -s "+md+imds.CredentialsPath)
	s.Command("The credentials: Expiration minus LastUpdated is the lifetime",
		"curl -s "+md+imds.CredentialsPath+role+" | grep -E 'LastUpdated|Expiration'")
	s.Command("The same with IMDSv2 (token first, as the SDKs do)",
		"TOKEN=$(curl -s -X PUT "+md+imds.TokenPath+" -H '"+imds.TokenTTLHeader+": 21600') && "+
			"curl -s -H \"X-aws-ec2-metadata-token: $TOKEN\" "+md+imds.CredentialsPath+role)
	s.Command("botocore (Debian python3-botocore) against the lab's metadata service: the key and the expiry it holds "+
		"(newer botocore stretches 15-minute IMDS credentials by a few minutes, so it no longer refreshes on every call)",
		"AWS_EC2_METADATA_SERVICE_ENDPOINT="+md+" python3 -c \"import botocore.session; "+
			"c = botocore.session.get_session().get_component('credential_provider').get_provider('iam-role').load(); "+
			"print(c.access_key, c._expiry_time)\"")
	s.Command("aws CLI (Debian awscli): where its credentials come from",
		"AWS_EC2_METADATA_SERVICE_ENDPOINT="+md+" aws configure list")
	s.Command("Where one request's time goes (credentials step vs dependency)",
		"curl -si "+x.onK8s.URL()+"/ | grep -i -E '^x-(creds|dependency)'")
	s.Command("The app's credential fetches and metadata calls so far", "curl -s "+x.onK8s.URL()+app.ControlPrefix+"stats")
	s.Command("The metadata service's call counters, by path", "curl -s "+md+imds.ControlPath)
	s.Command("Hand out 15-minute credentials, as KIAM does", "curl -s -X PUT "+md+imds.ControlPath+` -d '{"ttl":"15m"}'`)
	s.Command("Quick load with percentiles", "echo 'GET "+x.onK8s.URL()+"/' | vegeta attack -rate=10 -duration=10s | vegeta report")
}

// stormRun is one measured load on one app: latency and what it cost at the
// metadata service, and the control's latency at the same time.
type stormRun struct {
	rs, control         load.Results
	callsPerRequest     float64 // every metadata call, counted at the service
	rolePerRequest      float64
	documentsPerRequest float64
	tokensPerRequest    float64
	fetchesPerRequest   float64 // counted by the app
}

// measure drives a load on a (and, when control is set, the same load on
// the control beside it) and counts the metadata calls, sampling the
// counter twice a second for the series.
func (x *credStorm) measure(s *S, name, series string, a *labApp, rate float64, d time.Duration, control *labApp) stormRun {
	st0, app0 := x.md.state(s), a.stats(s)
	var rs, ctl load.Results
	samples := s.sampleWhile(x.md.total, 500*time.Millisecond, func() {
		if control == nil {
			rs = s.Attack(name, get(a.URL()+"/"), load.Constant(rate), d, load.WithHeaders(credHeaders...))
			return
		}
		rs, ctl = s.attackBeside(name, a.URL()+"/", name+" (control: EC2 deployment)", control.URL()+"/",
			load.Constant(rate), d, load.WithHeaders(credHeaders...))
	})
	st1, app1 := x.md.state(s), a.stats(s)
	n := float64(len(rs))
	if n == 0 {
		s.Failf("load %s sent nothing", name)
	}
	per := func(path string) float64 { return float64(st1.Calls[path]-st0.Calls[path]) / n }
	r := stormRun{rs: rs, control: ctl,
		callsPerRequest:     float64(st1.Total-st0.Total) / n,
		rolePerRequest:      per(imds.CredentialsPath),
		documentsPerRequest: per(imds.CredentialsPath + x.md.Role()),
		tokensPerRequest:    per(imds.TokenPath),
		fetchesPerRequest:   float64(app1.CredentialFetches-app0.CredentialFetches) / n,
	}
	s.Series(series, "calls/request", perRequest(samples, rs))
	what := fmt.Sprintf("rule %s, %d requests", a.rule, len(rs))
	s.Measure(name+": metadata calls per request", r.callsPerRequest, "calls", "counted at the metadata service; "+what)
	s.Measure(name+": role-name GETs per request", r.rolePerRequest, "calls", "")
	s.Measure(name+": credential documents per request", r.documentsPerRequest, "calls", "")
	s.Measure(name+": IMDSv2 token PUTs per request", r.tokensPerRequest, "calls", "the SDK reuses its 6 h session token")
	s.Measure(name+": credential fetches per request", r.fetchesPerRequest, "fetches", "counted by the app")
	s.Measure(name+": p50 latency", load.Millis(rs.Quantile(0.5)), "ms", what)
	s.Measure(name+": p50 credentials step", rs.HeaderQuantile(app.HeaderCredsDuration, 0.5), "ms", "X-Creds-Duration")
	s.Measure(name+": p50 dependency call", rs.HeaderQuantile(app.HeaderDependencyDuration, 0.5), "ms", "X-Dependency-Duration")
	if len(ctl) > 0 {
		s.Measure(name+": p50 latency of the EC2 deployment beside it", load.Millis(ctl.Quantile(0.5)), "ms",
			fmt.Sprintf("the control, %d requests", len(ctl)))
	}
	return r
}

// checkLifetime proves what the metadata service hands out right now.
func (x *credStorm) checkLifetime(s *S, want time.Duration, what string) {
	got := x.md.lifetime(s)
	s.Measure("credential lifetime handed out", got.Seconds(), "s", "Expiration - LastUpdated of a real document")
	s.Expect(got.Seconds(), what).To(BeAround(want.Seconds(), 1, "s"))
}

// noStorm asserts a load that should not storm: no metadata calls, the
// credentials step a cache hit, p50 within 20% of the baseline measured
// beside it (and the first baseline recorded for the report).
func (x *credStorm) noStorm(s *S, r stormRun, base load.Results, who string) {
	s.Expect(r.rs, who+": every request succeeds").To(HaveSuccessShare(">=", 0.99))
	s.Expect(r.callsPerRequest, who+": no metadata calls once the credentials are cached").To(BeNumber("<=", 0.05, "calls/request"))
	s.Expect(r.rs.HeaderQuantile(app.HeaderCredsDuration, 0.5), who+": the credentials step is a cache hit").
		To(BeNumber("<", load.Millis(stormIMDSLatency)/3, "ms"))
	s.Expect(r.rs, who+": p50 latency against the baseline deployment measured beside it").
		To(HaveLatencyRatioTo("EC2 deployment beside it", r.control, 0.5, "<=", 1.2))
	s.Measure(who+": p50 ratio to the first baseline", float64(r.rs.Quantile(0.5))/float64(base.Quantile(0.5)), "x",
		"for the record; the assertion uses the control measured at the same time")
}

func (x *credStorm) Run(s *S) {
	var base stormRun
	s.Phase("baseline", "on EC2: 6-hour credentials, Java SDK v1 refresh rule", func() {
		x.checkLifetime(s, ec2Lifetime, "the metadata service hands out 6-hour credentials")
		x.onEC2.warm(s)
		base = x.measure(s, "baseline", storySeries, x.onEC2, calmRate, stormLoad, nil)
		s.Expect(base.rs, "every request succeeds").To(HaveSuccessShare(">=", 0.99))
		s.Expect(base.callsPerRequest, "no metadata calls once the credentials are cached").To(BeNumber("<=", 0.05, "calls/request"))
		s.Expect(base.rs.HeaderQuantile(app.HeaderCredsDuration, 0.5), "the credentials step is a cache hit, far below one metadata call").
			To(BeNumber("<", load.Millis(stormIMDSLatency)/3, "ms"))
		s.Expect(load.Millis(base.rs.Quantile(0.5))-base.rs.HeaderQuantile(app.HeaderDependencyDuration, 0.5),
			"p50 is the dependency's latency plus little").To(BeNumber("<", 10, "ms"))
	})

	s.Phase("fault", "redeployed on Kubernetes behind a metadata proxy: 15-minute credentials", func() {
		x.md.apply(s, imds.Settings{TTL: kiamLifetime.String()}, "fault-applied", "credential lifetime 15m (KIAM)")
		x.checkLifetime(s, kiamLifetime, "the metadata service really hands out 15-minute credentials")
		x.onK8s.warm(s)
		storm := x.measure(s, "15m java-v1", storySeries, x.onK8s, stormRate, stormLoad, nil)
		s.Expect(storm.rs, "requests still succeed").To(HaveSuccessShare(">=", 0.99))
		s.Expect(storm.callsPerRequest, "every request calls the metadata service twice (role, then credentials)").
			To(BeNumber(">=", 2, "calls/request"))
		s.Expect(storm.documentsPerRequest, "a new credential document per request").To(BeAround(1, 0.05, "documents/request"))
		s.Expect(storm.rs.HeaderQuantile(app.HeaderCredsDuration, 0.5), "the credentials step costs two metadata round trips").
			To(BeNumber(">=", 2*load.Millis(stormIMDSLatency), "ms"))
		s.Expect(storm.rs, "p50 latency").To(HaveLatencyRatio(base.rs, 0.5, ">=", 3))

		// The control: the pinned Go SDK with the same credentials and the
		// same 15-minute window fetches once.
		x.sdk.warm(s)
		sdk := x.measure(s, "15m sdk", "metadata calls per request, sdk rule", x.sdk, calmRate, stormShortLoad, x.onEC2)
		x.noStorm(s, sdk, base.rs, "the pinned aws-sdk-go-v2 (ExpiryWindow 15m) with 15-minute credentials")

		// Old botocore refreshes in its advisory window unless another
		// thread is already refreshing, so overlapping requests share a
		// refresh: most requests, not all, pay for one.
		x.botocore.warm(s)
		boto := x.measure(s, "15m botocore", "metadata calls per request, botocore rule", x.botocore, stormRate, stormShortLoad, nil)
		s.Expect(boto.callsPerRequest, "old botocore's 15-minute advisory refresh storms too").To(BeNumber(">=", 1, "calls/request"))
	})

	s.Phase("fix", "the metadata proxy hands out 6-hour credentials", func() {
		x.md.apply(s, imds.Settings{TTL: ec2Lifetime.String()}, "fault-removed", "credential lifetime 15m (KIAM)")
		x.checkLifetime(s, ec2Lifetime, "the metadata service hands out 6-hour credentials again")
		// The running app's next request still finds its 15-minute
		// credentials about to expire and fetches once more; that fetch
		// brings 6-hour ones. No restart needed.
		st0 := x.md.state(s)
		x.onK8s.warm(s)
		st1 := x.md.state(s)
		s.Measure("metadata calls of the first request after the fix", float64(st1.Total-st0.Total), "calls", "the last refresh")
	})

	s.Phase("recovery", "~0 metadata calls per request, baseline latency", func() {
		rec := x.measure(s, "recovery", storySeries, x.onK8s, calmRate, stormLoad, x.onEC2)
		x.noStorm(s, rec, base.rs, "Kubernetes deployment")
	})
}
