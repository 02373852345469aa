package scenarios

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	. "github.com/chaoslab/chaoslab/assertions"
	"github.com/chaoslab/chaoslab/fakes/imds"
)

// Drill data for the credentials, dns and autoscaling families. The
// metadata service's lifetime and a pod's DNS settings are platform
// settings (`chaoslab drill set`); the cluster is fixed with kubectl.

func init() {
	RegisterDrill(Drill{
		ID: "credentials/short-ttl-refresh-storm", Difficulty: "hard", Tools: []string{"curl", "chaoslab drill set"},
		Ticket: "Since the search service moved from EC2 to Kubernetes, its p50 latency went from ~20 ms to several times " +
			"that. Same code, same Elasticsearch, same instance types. Nothing in its logs.",
		Hints: []string{
			"Where does one request's time go? curl -si $APP/ | grep -i '^x-' (the app times each step).",
			"The credentials step is slow on every request. How often does the app fetch credentials? curl -s $APP/__chaoslab/stats, and the metadata service's counters: curl -s $IMDS/__chaoslab/imds",
			"How long do the credentials it hands out live? curl -s $IMDS/latest/meta-data/iam/security-credentials/<role> (Expiration minus LastUpdated). The Java SDK v1 refreshes credentials that expire within 15 minutes.",
			"The metadata proxy hands out 15-minute credentials: give them a longer life, as EC2 does: chaoslab drill set METADATA_CREDENTIAL_TTL=6h",
		},
		Fixes: []string{"credentials that outlive the SDK's refresh window (chaoslab drill set METADATA_CREDENTIAL_TTL=6h: " +
			"the metadata proxy's setting, e.g. KIAM's session duration)"},
		Fastest: []string{"curl -si $APP/ | grep -i -E '^x-(creds|dependency)'", "curl -s $IMDS/__chaoslab/imds   # calls by path"},
		Settings: []Setting{{Key: "METADATA_CREDENTIAL_TTL", Doc: "lifetime of the credentials the metadata proxy hands out (Go duration, e.g. 6h)",
			Apply: func(p Play, s *S, v string) error {
				d, err := time.ParseDuration(v)
				if err != nil || d <= 0 {
					return fmt.Errorf("METADATA_CREDENTIAL_TTL=%q: want a positive duration such as 6h", v)
				}
				x := p.(*credStorm)
				x.md.apply(s, imds.Settings{TTL: d.String()}, "fix", "credential lifetime "+d.String()+" (trainee)")
				// As in the scenario's fix: the running app's next request
				// still finds its old credentials expiring and fetches once
				// more, bringing the new lifetime (the background traffic
				// would do it within a second).
				x.onK8s.warm(s)
				return nil
			}}},
		Addresses: func(p Play, s *S) []Address {
			x := p.(*credStorm)
			return []Address{
				{Var: "APP", Name: "the search service (on Kubernetes)", Value: x.onK8s.URL()},
				{Var: "APP_EC2", Name: "the same service still on EC2", Value: x.onEC2.URL()},
				{Var: "IMDS", Name: "the metadata service its pods reach", Value: x.md.URL()},
			}
		},
		Background: func(p Play) *Background {
			x := p.(*credStorm)
			return &Background{Targets: get(x.onK8s.URL() + "/"), Rate: 3}
		},
	})

	RegisterDrill(Drill{
		ID: "dns/ndots-search-expansion", Difficulty: "hard", Tools: []string{"curl", "dig", "chaoslab drill set"},
		Ticket: "The log-search service got slower when it moved into the cluster: every call now spends tens of " +
			"milliseconds before it even reaches Elasticsearch (" + externalName + "). The in-cluster Elasticsearch " +
			"calls of the other service are fast.",
		Hints: []string{
			"Where does one request's time go? curl -si $APP/ | grep -i '^x-' (DNS time vs dependency time).",
			"DNS is slow. Which names does the resolver ask for? Try them one by one with dig @$DNS_HOST -p $DNS_PORT NAME: the pod's search domains come first.",
			"With ndots:5 a name with fewer than five dots is tried with every search domain appended first (" + strings.Join(podSearch, ", ") + "): three NXDOMAIN round trips before the real name.",
			"Make the name absolute (trailing dot) in the service's config: chaoslab drill set ES_HOST=" + externalName + ". (or lower the pod's ndots: chaoslab drill set DNS_NDOTS=1)",
		},
		Fixes: []string{
			"A: the external name written fully qualified, with a trailing dot (chaoslab drill set ES_HOST=" + externalName + ".)",
			"B: the pod's dnsConfig ndots lowered to 1 (chaoslab drill set DNS_NDOTS=1)",
		},
		Fastest: []string{"curl -si $APP/ | grep -i -E '^x-(dns|dependency)'", "dig @$DNS_HOST -p $DNS_PORT +search +ndots=5 +domain=" + podSearch[0] + " " + externalName},
		Settings: []Setting{
			{Key: "ES_HOST", Doc: "the Elasticsearch host name in the service's config",
				Apply: func(p Play, s *S, v string) error {
					if !strings.EqualFold(strings.TrimSuffix(v, "."), externalName) {
						return fmt.Errorf("ES_HOST=%q: the service's Elasticsearch is %s (with or without a trailing dot)", v, externalName)
					}
					return nil
				}},
			{Key: "DNS_NDOTS", Doc: "the pod's dnsConfig option ndots (1-15)",
				Apply: func(p Play, s *S, v string) error {
					if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 15 {
						return fmt.Errorf("DNS_NDOTS=%q: want a number from 1 to 15", v)
					}
					return nil
				}},
		},
		Addresses: func(p Play, s *S) []Address {
			x := p.(*dnsNdots)
			host, port, _ := strings.Cut(x.dns.Addr(), ":")
			return []Address{
				{Var: "APP", Name: "the log-search service", Value: x.external.URL()},
				{Var: "APP_OTHER", Name: "the other service (calls the in-cluster Elasticsearch)", Value: x.inCluster.URL()},
				{Var: "DNS_HOST", Name: "the cluster DNS (host)", Value: host},
				{Var: "DNS_PORT", Name: "the cluster DNS (port)", Value: port},
				{Name: "the pods' resolv.conf", Value: "search " + strings.Join(podSearch, " ") + "; options ndots:5"},
			}
		},
		Background: func(p Play) *Background {
			x := p.(*dnsNdots)
			return &Background{Targets: get(x.external.URL() + "/"), Rate: 3}
		},
		Check: func(p Play, s *S) {
			x := p.(*dnsNdots)
			a, how := x.external, "external name, ndots:5"
			if strings.HasSuffix(s.drillValue("ES_HOST"), ".") {
				a, how = x.fqdn, "external FQDN"
			} else if n, err := strconv.Atoi(s.drillValue("DNS_NDOTS")); err == nil && n <= strings.Count(externalName, ".") {
				a, how = x.ndots1, fmt.Sprintf("external name, ndots:%d", n) // the same lookups as ndots:1 for this name
			}
			fq := x.measure(s, how, a, dnsLoad, x.inCluster)
			s.Expect(fq.rs, "every request succeeds").To(HaveSuccessShare(">=", 0.99))
			s.Expect(fq.namesPerReq, "one name per lookup").To(BeAround(1, 0.05, "names/lookup"))
			s.Expect(fq.queriesPerLookup, "queries per lookup: A and AAAA").To(BeAround(2, 0.1, "queries/lookup"))
			s.Expect(fq.rs, "p50 latency against the "+beside).To(HaveLatencyRatioTo(beside, fq.control, 0.5, "<=", 1.2))
		},
	})

	RegisterDrill(Drill{
		ID: "autoscaling/hpa-unknown-target", Difficulty: "medium", Tools: []string{"kubectl", "curl"},
		Ticket: "Checkout is slow under the sale's traffic. We put an autoscaler on it (50% CPU, 1 to 8 replicas) " +
			"yesterday, but it still runs one pod. kubectl top shows that pod busy.",
		Hints: []string{
			"What does the autoscaler see? kubectl --kubeconfig $KUBECONFIG -n $NS get hpa",
			"TARGETS <unknown>/50%: it cannot compute utilization. Why? kubectl --kubeconfig $KUBECONFIG -n $NS describe hpa " + asWorkload + " (the conditions)",
			"'missing request for cpu': utilization is usage divided by the container's CPU request, and the Deployment sets none: kubectl --kubeconfig $KUBECONFIG -n $NS get deploy " + asWorkload + " -o jsonpath='{.spec.template.spec.containers[*].resources}'",
			"Give the container a CPU request: kubectl --kubeconfig $KUBECONFIG -n $NS set resources deployment " + asWorkload + " --requests=cpu=" + asCPURequest + "   (new pods roll out; the HPA acts after metrics-server samples them: check again in a minute)",
		},
		Fixes:   []string{"a CPU request on every container of the Deployment (kubectl set resources ... --requests=cpu=100m), or an HPA target of type AverageValue"},
		Fastest: []string{"kubectl --kubeconfig $KUBECONFIG -n $NS get hpa   # <unknown>/50%", "kubectl --kubeconfig $KUBECONFIG -n $NS describe hpa " + asWorkload + "   # missing request for cpu"},
		Addresses: func(p Play, s *S) []Address {
			x := p.(*hpaUnknownTarget).x
			return []Address{
				{Var: "SVC", Name: "checkout (its Service)", Value: x.svc},
				{Var: "NS", Name: "the namespace", Value: x.w.Namespace},
			}
		},
		Background: func(p Play) *Background {
			x := p.(*hpaUnknownTarget).x
			return &Background{Targets: get(x.svc + "/"), Rate: asBusyRate} // the sale's traffic: what the HPA must see
		},
	})
}
