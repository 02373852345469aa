package config

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

func (p *parser) service(n *yaml.Node, path []any) *Service {
	o, _ := p.newEntity(n, path, "service")
	s := &Service{Protocol: "http", Port: 80, Retries: 5, ConnectTimeout: 60000, WriteTimeout: 60000, ReadTimeout: 60000, Enabled: true}
	s.Name = p.name(o)
	s.Tags = p.tags(o)
	if u := o.get("url"); u != nil {
		raw, ok := scalarString(u)
		if !ok {
			o.fail("url", u, "expected a string")
		} else if err := applyURL(s, raw); err != nil {
			o.fail("url", u, err.Error())
		}
	}
	if o.has("protocol") {
		s.Protocol = o.strOneOf("protocol", s.Protocol, serviceProtocols...)
	}
	if o.has("host") {
		s.Host = o.str("host", s.Host)
	}
	if o.has("port") {
		s.Port = o.integer("port", s.Port, 0, 65535)
	}
	if o.has("path") {
		s.Path = o.str("path", s.Path)
		if s.Path != "" && !strings.HasPrefix(s.Path, "/") {
			o.fail("path", o.vals["path"], "should start with: /")
		}
	}
	o.used["url"], o.used["protocol"], o.used["host"], o.used["port"], o.used["path"] = true, true, true, true, true
	if s.Host == "" && !o.has("url") {
		o.fail("host", nil, "required field missing")
	} else if s.Host != "" && !validHost(s.Host) {
		o.fail("host", o.vals["host"], "invalid value: "+s.Host)
	}
	s.Retries = o.integer("retries", s.Retries, 0, maxRetries)
	s.ConnectTimeout = o.integer("connect_timeout", s.ConnectTimeout, 0, maxTimeout)
	s.WriteTimeout = o.integer("write_timeout", s.WriteTimeout, 0, maxTimeout)
	s.ReadTimeout = o.integer("read_timeout", s.ReadTimeout, 0, maxTimeout)
	s.TLSVerify = o.boolPtr("tls_verify")
	if o.has("tls_verify_depth") {
		d := o.integer("tls_verify_depth", 0, 0, 64)
		s.TLSVerifyDepth = &d
	}
	s.Enabled = o.boolean("enabled", true)
	if s.TLSVerify != nil && s.Protocol != "https" && s.Protocol != "tls" {
		// Kong's entity check: tls_verify only makes sense with TLS.
		p.w.entityError(o.ent, "failed conditional validation given value of field 'protocol'", o.line())
		o.fail("tls_verify", o.vals["tls_verify"], "value must be null")
	}
	if s.Protocol != "http" && s.Protocol != "https" && contains(serviceProtocols, s.Protocol) {
		o.fail("protocol", o.vals["protocol"], fmt.Sprintf("the emulation only supports protocols http and https, got %q", s.Protocol))
	}
	if items, ok := o.seq("ca_certificates", "an array"); ok {
		for i, it := range items {
			id, ok := scalarString(it)
			if !ok || !isUUID(id) {
				o.failAt(extend(o.path, "ca_certificates", i), it, "expected a valid UUID")
				continue
			}
			s.CACertificates = append(s.CACertificates, id)
			p.caRefs = append(p.caRefs, ref{o: o, field: "ca_certificates", value: id, node: it, target: s})
		}
	}
	if o.has("client_certificate") {
		o.fail("client_certificate", o.vals["client_certificate"], "the emulation does not support client_certificate")
	}
	o.skip("created_at", "updated_at")
	s.ID = p.kongID(o, "services", s.Name, firstNonEmpty(s.Name, pathString(path)))
	p.unique(o, "services", "name", s.Name)
	p.cfg.Services = append(p.cfg.Services, s)
	for i, rn := range p.list(o, "routes") {
		p.route(rn, extend(path, "routes", i), s)
	}
	for i, pn := range p.list(o, "plugins") {
		p.plugin(pn, extend(path, "plugins", i), s, nil)
	}
	o.finish()
	return s
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// applyURL is Kong's url shorthand: it sets protocol, host, port and path.
func applyURL(s *Service, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("invalid url: %s", raw)
	}
	if u.Host == "" {
		return fmt.Errorf("missing host in url")
	}
	s.Protocol = u.Scheme
	s.Host = u.Hostname()
	switch {
	case u.Port() != "":
		port, err := strconv.Atoi(u.Port())
		if err != nil || port > 65535 {
			return fmt.Errorf("invalid port number")
		}
		s.Port = port
	case u.Scheme == "https":
		s.Port = 443
	default:
		s.Port = 80
	}
	if u.Path != "" {
		s.Path = u.Path
	}
	return nil
}

var hostRe = regexp.MustCompile(`^[A-Za-z0-9_]([A-Za-z0-9_\-.]*[A-Za-z0-9_])?\.?$`)

func validHost(h string) bool {
	if net.ParseIP(strings.Trim(h, "[]")) != nil {
		return true
	}
	return hostRe.MatchString(h)
}

func (p *parser) route(n *yaml.Node, path []any, svc *Service) {
	o, _ := p.newEntity(n, path, "route")
	r := &Route{Service: svc, StripPath: true, PathHandling: "v0"}
	r.Name = p.name(o)
	r.Tags = p.tags(o)
	r.Protocols = o.strings("protocols", "a set", []string{"http", "https"})
	for i, pr := range r.Protocols {
		if !contains(routeProtocols, pr) {
			o.failAt(extend(o.path, "protocols", i), o.vals["protocols"], "expected one of: "+strings.Join(routeProtocols, ", "))
		} else if pr != "http" && pr != "https" {
			o.failAt(extend(o.path, "protocols", i), o.vals["protocols"], fmt.Sprintf("the emulation only supports protocols http and https, got %q", pr))
		}
	}
	r.Methods = o.strings("methods", "a set", nil)
	for i, m := range r.Methods {
		if m == "" || strings.ToUpper(m) != m || strings.ContainsAny(m, " \t") {
			o.failAt(extend(o.path, "methods", i), o.vals["methods"], "invalid value: "+m)
		}
	}
	r.Hosts = o.strings("hosts", "an array", nil)
	for i, h := range r.Hosts {
		if !validRouteHost(h) {
			o.failAt(extend(o.path, "hosts", i), o.vals["hosts"], "invalid hostname: "+h)
		}
	}
	r.Paths = o.strings("paths", "an array", nil)
	r.regexes = make([]*regexp.Regexp, len(r.Paths))
	pathsNode := o.vals["paths"]
	for i, pth := range r.Paths {
		var el *yaml.Node
		if pathsNode != nil && i < len(pathsNode.Content) {
			el = pathsNode.Content[i]
		}
		switch {
		case strings.HasPrefix(pth, "~"):
			re, err := regexp.Compile("^(?:" + pth[1:] + ")")
			if err != nil {
				o.failAt(extend(o.path, "paths", i), el, fmt.Sprintf("invalid regex: '%s' (PCRE returned: %v)", pth[1:], err))
				continue
			}
			r.regexes[i] = re
		case !strings.HasPrefix(pth, "/"):
			o.failAt(extend(o.path, "paths", i), el, "should start with: / (fixed path) or ~/ (regex path)")
		}
	}
	if hn := o.record("headers"); hn.node != nil {
		r.Headers = map[string][]string{}
		for _, k := range hn.keys {
			r.Headers[strings.ToLower(k)] = hn.strings(k, "an array", nil)
		}
	}
	r.StripPath = o.boolean("strip_path", true)
	r.PreserveHost = o.boolean("preserve_host", false)
	r.RegexPriority = o.integer("regex_priority", 0, math.MinInt32, math.MaxInt32)
	r.PathHandling = o.strOneOf("path_handling", "v0", "v0", "v1")
	r.HTTPSRedirectStatusCode = o.integer("https_redirect_status_code", 426, 0, 999)
	o.boolean("request_buffering", true)
	o.boolean("response_buffering", true)
	o.skip("created_at", "updated_at", "snis", "sources", "destinations")
	if o.has("expression") || o.has("priority") {
		o.fail("expression", o.vals["expression"], "the emulation only supports the traditional router (paths, hosts, methods, headers)")
		o.skip("priority")
	}
	if len(r.Methods) == 0 && len(r.Hosts) == 0 && len(r.Paths) == 0 && len(r.Headers) == 0 {
		proto := "http"
		if contains(r.Protocols, "https") {
			proto = "https"
		}
		msg := "must set one of 'methods', 'hosts', 'headers', 'paths' when 'protocols' is 'http'"
		if proto == "https" {
			msg = "must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'https'"
		}
		p.w.entityError(o.ent, msg, o.line())
	}
	if svc == nil {
		if sn := o.get("service"); sn == nil {
			// Kong accepts a route without a service (and answers 503); the
			// emulation needs one to proxy to, so it says so up front.
			p.w.entityError(o.ent, "the emulation needs a service for every route (nest it under a service or set service:)", 0)
		} else {
			v := refValue(sn)
			if v == "" {
				o.fail("service", sn, "expected a string")
			} else {
				p.routeRefs = append(p.routeRefs, ref{o: o, field: "service", value: v, node: sn, target: r})
			}
		}
	}
	r.ID = p.kongID(o, "routes", r.Name, firstNonEmpty(r.Name, pathString(path)))
	p.unique(o, "routes", "name", r.Name)
	p.cfg.Routes = append(p.cfg.Routes, r)
	for i, pn := range p.list(o, "plugins") {
		// A plugin nested in a route is scoped to the route alone, as in Kong.
		p.plugin(pn, extend(path, "plugins", i), nil, r)
	}
	o.finish()
}

// refValue reads a foreign reference: "name", or {id: ...} / {name: ...}.
func refValue(n *yaml.Node) string {
	if s, ok := scalarString(n); ok {
		return s
	}
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i].Value; k == "id" || k == "name" || k == "username" {
				if s, ok := scalarString(n.Content[i+1]); ok {
					return s
				}
			}
		}
	}
	return ""
}

var routeHostRe = regexp.MustCompile(`^(\*\.)?[A-Za-z0-9_\-.]+(\.\*)?(:[0-9]+)?$`)

func validRouteHost(h string) bool {
	return h != "" && routeHostRe.MatchString(h) && strings.Count(h, "*") <= 1
}
