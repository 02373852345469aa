package config

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

func (p *parser) upstream(n *yaml.Node, path []any) {
	o, _ := p.newEntity(n, path, "upstream")
	u := &Upstream{Algorithm: "round-robin", Slots: 10000, Healthchecks: defaultHealthchecks()}
	u.Name = o.str("name", "")
	if !o.has("name") {
		o.fail("name", nil, "required field missing")
	} else if !validHost(u.Name) {
		o.fail("name", o.vals["name"], "Invalid name ('"+u.Name+"'); must be a valid hostname")
	}
	u.Tags = p.tags(o)
	u.Algorithm = o.strOneOf("algorithm", "round-robin", upstreamAlgos...)
	u.Slots = o.integer("slots", 10000, 10, 65536)
	u.HostHeader = o.str("host_header", "")
	o.skip("hash_on", "hash_fallback", "hash_on_header", "hash_fallback_header", "hash_on_cookie",
		"hash_on_cookie_path", "hash_on_query_arg", "hash_fallback_query_arg", "hash_on_uri_capture",
		"hash_fallback_uri_capture", "use_srv_name", "created_at", "updated_at", "client_certificate")
	if hc := o.record("healthchecks"); hc.node != nil {
		p.healthchecks(hc, &u.Healthchecks)
	}
	u.ID = p.kongID(o, "upstreams", u.Name, u.Name)
	p.unique(o, "upstreams", "name", u.Name)
	p.cfg.Upstreams = append(p.cfg.Upstreams, u)
	for i, tn := range p.list(o, "targets") {
		p.target(tn, extend(path, "targets", i), u)
	}
	o.finish()
}

func defaultHealthchecks() Healthchecks {
	return Healthchecks{
		Active: ActiveHealthcheck{
			Type: "http", HTTPPath: "/", Timeout: 1, Concurrency: 10, HTTPSVerifyCertificate: true,
			Healthy:   ActiveHealthy{HTTPStatuses: []int{200, 302}},
			Unhealthy: ActiveUnhealthy{HTTPStatuses: []int{429, 404, 500, 501, 502, 503, 504, 505}},
		},
		Passive: PassiveHealthcheck{
			Type: "http",
			Healthy: PassiveHealthy{HTTPStatuses: []int{200, 201, 202, 203, 204, 205, 206, 207, 208, 226,
				300, 301, 302, 303, 304, 305, 306, 307, 308}},
			Unhealthy: PassiveUnhealthy{HTTPStatuses: []int{429, 500, 503}},
		},
	}
}

func (p *parser) healthchecks(o *obj, hc *Healthchecks) {
	hc.Threshold = o.number("threshold", 0, 0, 100)
	if a := o.record("active"); a.node != nil {
		ac := &hc.Active
		ac.Type = a.strOneOf("type", "http", "tcp", "http", "https", "grpc", "grpcs")
		ac.HTTPPath = a.str("http_path", "/")
		if !strings.HasPrefix(ac.HTTPPath, "/") {
			a.fail("http_path", a.vals["http_path"], "should start with: /")
		}
		ac.Timeout = a.number("timeout", 1, 0, 65535)
		ac.Concurrency = a.integer("concurrency", 10, 1, 2147483648-1)
		ac.HTTPSVerifyCertificate = a.boolean("https_verify_certificate", true)
		ac.HTTPSSni = a.str("https_sni", "")
		if hn := a.record("headers"); hn.node != nil {
			ac.Headers = map[string][]string{}
			for _, k := range hn.keys {
				ac.Headers[k] = hn.strings(k, "an array", nil)
			}
		}
		if h := a.record("healthy"); h.node != nil {
			ac.Healthy.Interval = h.number("interval", 0, 0, 65535)
			ac.Healthy.HTTPStatuses = h.ints("http_statuses", ac.Healthy.HTTPStatuses, 200, 999)
			ac.Healthy.Successes = h.integer("successes", 0, 0, 255)
			h.finish()
		}
		if u := a.record("unhealthy"); u.node != nil {
			ac.Unhealthy.Interval = u.number("interval", 0, 0, 65535)
			ac.Unhealthy.HTTPStatuses = u.ints("http_statuses", ac.Unhealthy.HTTPStatuses, 200, 999)
			ac.Unhealthy.TCPFailures = u.integer("tcp_failures", 0, 0, 255)
			ac.Unhealthy.Timeouts = u.integer("timeouts", 0, 0, 255)
			ac.Unhealthy.HTTPFailures = u.integer("http_failures", 0, 0, 255)
			u.finish()
		}
		if ac.Type != "http" && ac.Type != "tcp" {
			a.fail("type", a.vals["type"], fmt.Sprintf("the emulation only supports active checks of type http or tcp, got %q", ac.Type))
		}
		a.finish()
	}
	if ps := o.record("passive"); ps.node != nil {
		pc := &hc.Passive
		pc.Type = ps.strOneOf("type", "http", "tcp", "http", "https", "grpc", "grpcs")
		if h := ps.record("healthy"); h.node != nil {
			pc.Healthy.HTTPStatuses = h.ints("http_statuses", pc.Healthy.HTTPStatuses, 200, 999)
			pc.Healthy.Successes = h.integer("successes", 0, 0, 255)
			h.finish()
		}
		if u := ps.record("unhealthy"); u.node != nil {
			pc.Unhealthy.HTTPStatuses = u.ints("http_statuses", pc.Unhealthy.HTTPStatuses, 200, 999)
			pc.Unhealthy.TCPFailures = u.integer("tcp_failures", 0, 0, 255)
			pc.Unhealthy.Timeouts = u.integer("timeouts", 0, 0, 255)
			pc.Unhealthy.HTTPFailures = u.integer("http_failures", 0, 0, 255)
			u.finish()
		}
		ps.finish()
	}
	o.finish()
}

func (p *parser) target(n *yaml.Node, path []any, u *Upstream) {
	o, _ := p.newEntity(n, path, "target")
	t := &Target{Weight: 100, Tags: p.tags(o)}
	t.Target = o.str("target", "")
	if !o.has("target") {
		o.fail("target", nil, "required field missing")
	} else {
		host, port, err := splitTarget(t.Target)
		if err != nil {
			o.fail("target", o.vals["target"], "Invalid target ('"+t.Target+"'); not a valid hostname or ip address")
		}
		t.Host, t.Port = host, port
	}
	t.Weight = o.integer("weight", 100, 0, 65535)
	o.skip("created_at", "updated_at")
	if u == nil {
		un := o.get("upstream")
		if un == nil {
			o.fail("upstream", nil, "required field missing")
		} else {
			p.targetRefs = append(p.targetRefs, ref{o: o, field: "upstream", value: refValue(un), node: un, target: t})
		}
	} else {
		u.Targets = append(u.Targets, t)
		p.unique(o, "targets:"+u.Name, "target", t.Target)
	}
	t.ID = p.id(o, "targets", pathString(path)+t.Target)
	o.finish()
}

// splitTarget reads "host:port" or "host" (Kong's default target port is 8000).
func splitTarget(s string) (string, int, error) {
	host, portS, err := net.SplitHostPort(s)
	if err != nil {
		if strings.Contains(err.Error(), "missing port") {
			host, portS = strings.Trim(s, "[]"), "8000"
		} else {
			return "", 0, err
		}
	}
	port, err := strconv.Atoi(portS)
	if err != nil || port < 0 || port > 65535 || !validHost(host) {
		return "", 0, fmt.Errorf("invalid target")
	}
	return host, port, nil
}
