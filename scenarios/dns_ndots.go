package scenarios

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	mdns "github.com/miekg/dns"

	. "github.com/chaoslab/chaoslab/assertions"
	"github.com/chaoslab/chaoslab/fakes/app"
	"github.com/chaoslab/chaoslab/fakes/dns"
	"github.com/chaoslab/chaoslab/fakes/imds"
	"github.com/chaoslab/chaoslab/lab"
	"github.com/chaoslab/chaoslab/load"
)

func init() {
	Register(Scenario{
		ID:    "dns/ndots-search-expansion",
		Title: "ndots:5 and the search list turn one external name into four lookups",
		Symptom: "with ndots:5 and three search domains an external name costs 4 names (8 queries, A and AAAA) at the DNS, " +
			"search domains first, and 3 extra DNS round trips per request; a trailing dot or ndots:1 makes it 1 name",
		Story: `A service in Kubernetes called its Elasticsearch inside the cluster as "elasticsearch". The Elasticsearch moved to a ` +
			`managed endpoint outside the cluster, search-logs.eu-west-1.es.amazonaws.com, and every request got slower by a few ` +
			`DNS round trips; under load, DNS query rates quadrupled and the occasional lookup timed out.

A pod's /etc/resolv.conf has "search prod.svc.cluster.local svc.cluster.local cluster.local" and "options ndots:5". ` +
			`A name with fewer than 5 dots is tried with every search domain first: the external name (4 dots) becomes ` +
			`search-logs...amazonaws.com.prod.svc.cluster.local, then .svc.cluster.local, then .cluster.local, each answered ` +
			`NXDOMAIN, and only then the name itself, each asked for A and AAAA.

The lab runs the app with a resolver that has glibc's search-list and ndots rules, against a fake authoritative DNS ` +
			`that answers after 10 ms (a busy cluster DNS) and counts every query. It does not model glibc's retries, caches or ` +
			`the conntrack races that turn lost queries into 5 s timeouts: only the count and the round trips.`,
		Lesson: `Count the queries per lookup at the DNS server (or in a capture: tcpdump -i any port 53) rather than timing one ` +
			`lookup: NXDOMAIN answers for "name.<search domain>" in front of every real answer are the signature of search-list ` +
			`expansion. Compare with dig, which does not use the search list unless asked (+search).

Fixes: write external names fully qualified with a trailing dot ("search-logs.eu-west-1.es.amazonaws.com."), or lower ` +
			`ndots for the pod (spec.dnsConfig.options: ndots "1" or "2"), so names with dots are tried as they are first. ` +
			`A node-local DNS cache makes the extra queries cheap (it caches the NXDOMAIN answers too), but the pod still sends ` +
			`every one of them.`,
		New: func() Play { return &dnsNdots{} },
	})
}

const (
	dnsQueryLatency = 10 * time.Millisecond
	dnsRate         = 50.0
	dnsLoad         = 1500 * time.Millisecond
	inClusterName   = "elasticsearch"
	externalName    = "search-logs.eu-west-1.es.amazonaws.com"
	dnsSeries       = "DNS queries per lookup"
)

// podSearch is a pod's search list in namespace "prod".
var podSearch = []string{"prod.svc.cluster.local", "svc.cluster.local", "cluster.local"}

type dnsNdots struct {
	es  *lab.Upstream
	md  *labIMDS
	dns *dns.Server // in-process: the scenario reads its query log (fakes/dns has no control API for it)
	// The same app deployed four ways: calling the in-cluster service, the
	// external name, the external name with a trailing dot, and the
	// external name with ndots:1. Apps resolve nothing before their first
	// request, so starting them all up front costs nothing. The in-cluster
	// one keeps serving throughout: it is the live control the other
	// latencies are compared with, measured at the same moment.
	inCluster, external, fqdn, ndots1 *dnsApp
}

// dnsApp is an app and the names its resolver can ask for its dependency.
type dnsApp struct {
	*labApp
	names map[string]bool // the search expansion of its dependency's host
}

func (x *dnsNdots) Setup(s *S) {
	if name := s.Lab.Backend().Name(); name != lab.DefaultBackend {
		s.Skip(fmt.Sprintf("backend %s: this scenario reads the fake DNS's query log in-process, which only the %s backend allows",
			name, lab.DefaultBackend))
	}
	srv, err := dns.Start(s.Ctx, dns.Config{Latency: dnsQueryLatency, Records: map[string][]string{
		inClusterName + "." + podSearch[0]: {"127.0.0.1"},
		externalName:                       {"127.0.0.1"},
	}})
	s.Must(err, "starting the fake DNS")
	x.dns = srv
	s.Lab.OnClose("fake DNS (in-process)", srv.Close)
	s.Lab.Record("started", "dns", "fake DNS "+srv.Addr()+" (in-process)")

	x.es = s.startElasticsearch()
	x.md = s.startIMDS(imds.Config{})
	_, port, _ := net.SplitHostPort(x.es.Addr())
	appFor := func(host string, ndots int) *dnsApp {
		r := &dns.Resolver{Server: srv.Addr(), Search: podSearch, Ndots: ndots}
		a := &dnsApp{labApp: s.startApp(app.Config{IMDSEndpoint: x.md.URL(),
			DependencyURL: "http://" + net.JoinHostPort(host, port) + "/_search", Resolver: r}), names: map[string]bool{}}
		for _, n := range r.Candidates(host) {
			a.names[strings.ToLower(n)] = true
		}
		return a
	}
	x.inCluster = appFor(inClusterName, 5)
	x.external = appFor(externalName, 5)
	x.fqdn = appFor(externalName+".", 5)
	x.ndots1 = appFor(externalName, 1)

	host, dport, _ := net.SplitHostPort(srv.Addr())
	dig := "dig @" + host + " -p " + dport + " "
	var loop []string
	for _, d := range podSearch {
		loop = append(loop, externalName+"."+d+".")
	}
	s.Command("What ndots:5 asks first: the search domains (each NXDOMAIN)",
		"for n in "+strings.Join(loop, " ")+"; do "+dig+"+noall +comments $n | grep -o 'status: [A-Z]*'; done")
	s.Command("The name as it is: the one query that answers", dig+externalName+".")
	s.Command("Round-trip time of one query, as SREs watch it", "while true; do "+dig+externalName+". | grep time; sleep 2; done")
	s.Command("dig with the pod's search list and ndots (+search)", dig+"+search +ndots=5 +domain="+podSearch[0]+" "+externalName)
	s.Command("Where one request's time goes (DNS vs dependency)", "curl -si "+x.external.URL()+"/ | grep -i -E '^x-(dns|dependency)'")
	s.Command("Capture the queries (real cluster)", "tcpdump -leni any -w capture.pcap port 53")
}

// lookupRun is one measured load and what it cost at the DNS.
type lookupRun struct {
	rs, control                   load.Results
	queriesPerLookup, namesPerReq float64
	dnsP50                        float64 // X-DNS-Duration p50, ms
}

// queriesBetween reads the DNS's query log between two moments.
func (x *dnsNdots) queriesBetween(from, to time.Time) []dns.Query {
	var out []dns.Query
	for _, q := range x.dns.Log() {
		if !q.Time.Before(from) && !q.Time.After(to) {
			out = append(out, q)
		}
	}
	return out
}

// queriesOf counts the questions the DNS got for a's names (any type).
func (x *dnsNdots) queriesOf(a *dnsApp) int64 {
	var n int64
	for name := range a.names {
		n += x.dns.QueriesFor(name)
	}
	return n
}

// candidates does one request on a and returns the names the DNS was asked
// during it, in order, with the answer: the search expansion as the server
// saw it.
func (x *dnsNdots) candidates(s *S, a *dnsApp) []string {
	r := a.warm(s)
	var out []string
	seen := map[string]bool{}
	for _, q := range x.queriesBetween(r.sent, r.done) {
		if q.Type == "A" && a.names[q.Name] && !seen[q.Name] {
			seen[q.Name] = true
			out = append(out, q.Name+" "+q.Rcode)
		}
	}
	return out
}

// measure drives a load on a (and, when control is set, the same load on
// the control beside it) and counts a's queries at the fake DNS.
func (x *dnsNdots) measure(s *S, name string, a *dnsApp, d time.Duration, control *dnsApp) lookupRun {
	var rs, ctl load.Results
	t0 := time.Now()
	read := func(context.Context) (int64, error) { return x.queriesOf(a), nil }
	samples := s.sampleWhile(read, 250*time.Millisecond, func() {
		if control == nil {
			rs = s.Attack(name, get(a.URL()+"/"), load.Constant(dnsRate), d, load.WithHeaders(credHeaders...))
			return
		}
		rs, ctl = s.attackBeside(name, a.URL()+"/", name+" (control: in-cluster name)", control.URL()+"/",
			load.Constant(dnsRate), d, load.WithHeaders(credHeaders...))
	})
	n := float64(len(rs))
	if n == 0 {
		s.Failf("load %s sent nothing", name)
	}
	var queries, names int
	for _, q := range x.queriesBetween(t0, time.Now()) {
		if a.names[q.Name] {
			queries++
			if q.Type == "A" {
				names++
			}
		}
	}
	r := lookupRun{rs: rs, control: ctl, queriesPerLookup: float64(queries) / n, namesPerReq: float64(names) / n,
		dnsP50: rs.HeaderQuantile(app.HeaderDNSDuration, 0.5)}
	s.Series(dnsSeries, "queries/lookup", perRequest(samples, rs))
	what := fmt.Sprintf("%d requests, one lookup each", len(rs))
	s.Measure(name+": DNS queries per lookup", r.queriesPerLookup, "queries", "counted at the fake DNS; "+what)
	s.Measure(name+": names tried per lookup", r.namesPerReq, "names", "A queries at the fake DNS")
	s.Measure(name+": p50 DNS time", r.dnsP50, "ms", "X-DNS-Duration")
	s.Measure(name+": p50 latency", load.Millis(rs.Quantile(0.5)), "ms", what)
	if len(ctl) > 0 {
		s.Measure(name+": p50 latency of the in-cluster name beside it", load.Millis(ctl.Quantile(0.5)), "ms",
			fmt.Sprintf("the control, %d requests", len(ctl)))
		s.Measure(name+": p50 DNS time of the in-cluster name beside it", ctl.HeaderQuantile(app.HeaderDNSDuration, 0.5), "ms", "")
	}
	return r
}

// queryRTT times one A query to the fake DNS: the realisation of its latency.
func (x *dnsNdots) queryRTT(s *S) time.Duration {
	m := new(mdns.Msg)
	m.SetQuestion(externalName+".", mdns.TypeA)
	c := &mdns.Client{Net: "udp", Timeout: 2 * time.Second}
	in, rtt, err := c.ExchangeContext(s.Ctx, m, x.dns.Addr())
	s.Must(err, "querying the fake DNS")
	if in.Rcode != mdns.RcodeSuccess || len(in.Answer) == 0 {
		s.Failf("the fake DNS answered %s with %d records for %s", mdns.RcodeToString[in.Rcode], len(in.Answer), externalName)
	}
	return rtt
}

const beside = "in-cluster name beside it"

func (x *dnsNdots) Run(s *S) {
	var base lookupRun
	s.Phase("baseline", "the dependency in the cluster: short name, found in the first search domain", func() {
		rtt := x.queryRTT(s)
		s.Measure("one DNS query's round trip", load.Millis(rtt), "ms", "configured latency "+dnsQueryLatency.String())
		s.Expect(load.Millis(rtt), "the fake DNS really answers after its latency").To(BeNumber(">=", load.Millis(dnsQueryLatency), "ms"))
		got := x.candidates(s, x.inCluster)
		s.Expect(strings.Join(got, " -> "), "names asked for "+inClusterName).
			To(BeNames(inClusterName + "." + podSearch[0] + ". NOERROR"))
		base = x.measure(s, "in-cluster name", x.inCluster, dnsLoad, nil)
		s.Expect(base.rs, "every request succeeds").To(HaveSuccessShare(">=", 0.99))
		s.Expect(base.namesPerReq, "one name per lookup").To(BeAround(1, 0.05, "names/lookup"))
		s.Expect(base.queriesPerLookup, "queries per lookup: A and AAAA").To(BeAround(2, 0.1, "queries/lookup"))
	})

	s.Phase("fault", "an external name with ndots:5 and three search domains", func() {
		want := make([]string, 0, 4)
		for _, d := range podSearch {
			want = append(want, externalName+"."+d+". NXDOMAIN")
		}
		want = append(want, externalName+". NOERROR")
		got := x.candidates(s, x.external)
		s.Expect(strings.Join(got, " -> "), "the search domains are tried first, then the name").To(BeNames(strings.Join(want, " -> ")))
		ext := x.measure(s, "external name, ndots:5", x.external, dnsLoad, x.inCluster)
		s.Expect(ext.rs, "requests still succeed").To(HaveSuccessShare(">=", 0.99))
		s.Expect(ext.namesPerReq, "four names per lookup (3 search domains + the name)").To(BeAround(4, 0.05, "names/lookup"))
		s.Expect(ext.queriesPerLookup, "queries per lookup at the DNS").To(BeNumber(">=", 4, "queries/lookup"))
		s.Expect(ext.dnsP50, "DNS time: four round trips one after the other").To(BeNumber(">=", 4*load.Millis(dnsQueryLatency), "ms"))
		s.Expect(ext.dnsP50/ext.control.HeaderQuantile(app.HeaderDNSDuration, 0.5), "DNS time against the "+beside).
			To(BeNumber(">=", 3, "x"))
		// At least the three extra round trips; more on a loaded machine,
		// where every round trip also waits for a CPU.
		s.Expect(load.Millis(ext.rs.Quantile(0.5)-ext.control.Quantile(0.5)), "p50 latency over the "+beside+": three more DNS round trips").
			To(BeNumber(">=", load.Millis(3*dnsQueryLatency)-5, "ms"))
	})

	s.Phase("fix", "write the external name fully qualified (trailing dot)", func() {
		x.external.stop(s)
		got := x.candidates(s, x.fqdn)
		s.Expect(strings.Join(got, " -> "), "names asked for "+externalName+".").To(BeNames(externalName + ". NOERROR"))
	})

	s.Phase("recovery", "one name per lookup; ndots:1 does the same", func() {
		fq := x.measure(s, "external FQDN", x.fqdn, dnsLoad, x.inCluster)
		s.Expect(fq.rs, "every request succeeds").To(HaveSuccessShare(">=", 0.99))
		s.Expect(fq.namesPerReq, "one name per lookup").To(BeAround(1, 0.05, "names/lookup"))
		s.Expect(fq.queriesPerLookup, "queries per lookup: A and AAAA").To(BeAround(2, 0.1, "queries/lookup"))
		s.Expect(fq.rs, "p50 latency against the "+beside).To(HaveLatencyRatioTo(beside, fq.control, 0.5, "<=", 1.2))
		s.Measure("external FQDN: p50 ratio to the first baseline", float64(fq.rs.Quantile(0.5))/float64(base.rs.Quantile(0.5)), "x",
			"for the record; the assertion uses the control measured at the same time")

		got := x.candidates(s, x.ndots1)
		s.Expect(strings.Join(got, " -> "), "ndots:1: the name is tried as it is first").To(BeNames(externalName + ". NOERROR"))
		n1 := x.measure(s, "external name, ndots:1", x.ndots1, time.Second, x.inCluster)
		s.Expect(n1.namesPerReq, "ndots:1: one name per lookup").To(BeAround(1, 0.05, "names/lookup"))
		s.Expect(n1.rs, "ndots:1: p50 latency against the "+beside).To(HaveLatencyRatioTo(beside, n1.control, 0.5, "<=", 1.2))
	})
}
