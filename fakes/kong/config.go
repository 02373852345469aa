package kong

import (
	"crypto/md5"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math"
	"net"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"gopkg.in/yaml.v3"
)

// Config is a validated Kong declarative configuration (kong.yml,
// _format_version "3.0"), with Kong's defaults filled in and references
// (route -> service, plugin -> route/service, service -> ca_certificates)
// resolved.
type Config struct {
	FormatVersion  string
	Services       []*Service
	Routes         []*Route
	Upstreams      []*Upstream
	Consumers      []*Consumer
	Plugins        []*Plugin
	CACertificates []*CACertificate
	// Hash is Kong's configuration_hash: the md5 of the input.
	Hash string

	raw []byte
}

// Service is Kong's service entity. Timeouts are milliseconds.
type Service struct {
	ID, Name       string
	Protocol, Host string
	Port           int
	Path           string // "" when unset
	Retries        int
	ConnectTimeout int
	WriteTimeout   int
	ReadTimeout    int
	TLSVerify      *bool
	TLSVerifyDepth *int
	CACertificates []string // ids of top-level ca_certificates
	Enabled        bool
	Tags           []string
}

// Route is Kong's route entity.
type Route struct {
	ID, Name      string
	Service       *Service
	Protocols     []string
	Methods       []string
	Hosts         []string
	Paths         []string
	Headers       map[string][]string
	StripPath     bool
	PreserveHost  bool
	RegexPriority int
	PathHandling  string
	Tags          []string

	regexes     []*regexp.Regexp // per path; nil for prefix paths
	acceptsHTTP bool
}

// Upstream is Kong's upstream entity (a load-balanced set of targets).
type Upstream struct {
	ID, Name     string
	Algorithm    string
	Slots        int
	HostHeader   string
	Healthchecks Healthchecks
	Targets      []*Target
	Tags         []string
}

// Target is one host:port of an upstream.
type Target struct {
	ID     string
	Target string // "host:port" as written (port defaulted to 8000)
	Host   string
	Port   int
	Weight int
	Tags   []string
}

// Healthchecks configures an upstream's active and passive health checks.
type Healthchecks struct {
	Active    ActiveHealthcheck
	Passive   PassiveHealthcheck
	Threshold float64
}

// ActiveHealthcheck probes targets on a timer. Intervals and Timeout are
// seconds and may be fractional, so labs can compress time.
type ActiveHealthcheck struct {
	Type                   string
	HTTPPath               string
	Timeout                float64
	Concurrency            int
	HTTPSVerifyCertificate bool
	HTTPSSni               string
	Headers                map[string][]string
	Healthy                ActiveHealthy
	Unhealthy              ActiveUnhealthy
}

type ActiveHealthy struct {
	Interval     float64
	HTTPStatuses []int
	Successes    int
}

type ActiveUnhealthy struct {
	Interval     float64
	HTTPStatuses []int
	TCPFailures  int
	Timeouts     int
	HTTPFailures int
}

// PassiveHealthcheck watches proxied traffic.
type PassiveHealthcheck struct {
	Type      string
	Healthy   PassiveHealthy
	Unhealthy PassiveUnhealthy
}

type PassiveHealthy struct {
	HTTPStatuses []int
	Successes    int
}

type PassiveUnhealthy struct {
	HTTPStatuses []int
	TCPFailures  int
	Timeouts     int
	HTTPFailures int
}

// Consumer is Kong's consumer with its credentials.
type Consumer struct {
	ID, Username, CustomID string
	KeyAuthCredentials     []*KeyAuthCredential
	JWTSecrets             []*JWTSecret
	Tags                   []string
}

type KeyAuthCredential struct {
	ID, Key  string
	Consumer *Consumer
}

type JWTSecret struct {
	ID, Key, Secret, Algorithm, RSAPublicKey string
	Consumer                                 *Consumer

	rsaKey any // parsed rsa_public_key
}

// Plugin is one configured plugin instance, global or scoped.
type Plugin struct {
	ID, Name  string
	Enabled   bool
	Service   *Service // nil unless scoped to a service
	Route     *Route   // nil unless scoped to a route
	Protocols []string
	// Config is the plugin's typed configuration (*KeyAuthConfig, ...).
	Config any
	Tags   []string
}

// CACertificate is a trusted CA a service's tls_verify can use.
type CACertificate struct {
	ID   string
	Cert string
	Tags []string

	x509 *x509.Certificate
}

// Kong's bounds: timeouts are integers in [0, 2^31-2], retries in [0, 32767].
const (
	maxTimeout = math.MaxInt32 - 1
	maxRetries = 32767
)

var (
	serviceProtocols = []string{"grpc", "grpcs", "http", "https", "tcp", "tls", "tls_passthrough", "udp", "ws", "wss"}
	routeProtocols   = serviceProtocols
	upstreamAlgos    = []string{"consistent-hashing", "latency", "least-connections", "round-robin", "sticky-sessions"}
	// idNamespace makes generated ids stable across reloads of the same file.
	idNamespace = uuid.MustParse("6ba7b811-9dad-11d1-80b4-00c04fd430c8")
)

// ParseConfig parses and validates a kong.yml (YAML or JSON). On failure it
// returns a *ConfigError naming every bad entity and field.
func ParseConfig(b []byte) (*Config, error) {
	root, err := parseDocument(b)
	if err != nil {
		return nil, &ConfigError{Errors: []FieldError{{Message: err.Error(), path: []any{"error"}}}}
	}
	p := &parser{w: &walker{}, cfg: &Config{}, seen: map[string]map[string]int{}}
	p.cfg.Hash = md5hex(b)
	p.cfg.raw = append([]byte(nil), b...)
	p.top(root)
	if len(p.w.errs) > 0 {
		// In reading order; errors without a line (cross-entity checks) last.
		sort.SliceStable(p.w.errs, func(i, j int) bool {
			li, lj := p.w.errs[i].Line, p.w.errs[j].Line
			if li == 0 || lj == 0 {
				return lj == 0 && li != 0
			}
			return li < lj
		})
		return nil, &ConfigError{Errors: p.w.errs}
	}
	return p.cfg, nil
}

func md5hex(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

// parseDocument reads YAML; JSON is YAML too, except for tab indentation
// that JSON allows, so JSON that yaml.v3 refuses is decoded as JSON.
func parseDocument(b []byte) (*yaml.Node, error) {
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil, fmt.Errorf("failed parsing declarative configuration: empty configuration")
	}
	var doc yaml.Node
	yerr := yaml.Unmarshal(b, &doc)
	if yerr != nil {
		var v any
		if jerr := json.Unmarshal(b, &v); jerr != nil {
			return nil, fmt.Errorf("failed parsing declarative configuration: %v", yerr)
		}
		doc = yaml.Node{}
		if err := doc.Encode(v); err != nil {
			return nil, fmt.Errorf("failed parsing declarative configuration: %v", err)
		}
		return &doc, nil
	}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		return doc.Content[0], nil
	}
	return &doc, nil
}

type parser struct {
	w    *walker
	cfg  *Config
	seen map[string]map[string]int // entity type -> unique key -> count

	// pending references, resolved once every entity is known
	routeRefs  []ref
	pluginRefs []pluginRef
	credRefs   []ref
	caRefs     []ref
	targetRefs []ref
}

type ref struct {
	o      *obj
	field  string
	value  string
	node   *yaml.Node
	target any // *Route, *KeyAuthCredential, *JWTSecret, *Service, *Target
}

type pluginRef struct {
	o                  *obj
	pl                 *Plugin
	svc, route, consum string
	svcN, routeN, conN *yaml.Node
}

func (p *parser) top(root *yaml.Node) {
	top := p.w.object(root, nil, nil)
	if root.Kind != yaml.MappingNode {
		return
	}
	fv := top.get("_format_version")
	switch {
	case fv == nil:
		top.fail("_format_version", nil, "required field missing")
	default:
		s, ok := scalarString(fv)
		if !ok {
			top.fail("_format_version", fv, "expected a string")
		} else if !contains([]string{"1.1", "2.1", "3.0"}, s) {
			top.fail("_format_version", fv, "expected one of: 1.1, 2.1, 3.0")
		}
		p.cfg.FormatVersion = s
	}
	top.skip("_transform", "_workspace", "_comment", "_info")

	for i, n := range p.list(top, "ca_certificates") {
		p.caCert(n, []any{"ca_certificates", i})
	}
	for i, n := range p.list(top, "services") {
		p.service(n, []any{"services", i})
	}
	for i, n := range p.list(top, "routes") {
		p.route(n, []any{"routes", i}, nil)
	}
	for i, n := range p.list(top, "upstreams") {
		p.upstream(n, []any{"upstreams", i})
	}
	for i, n := range p.list(top, "targets") {
		p.target(n, []any{"targets", i}, nil)
	}
	for i, n := range p.list(top, "consumers") {
		p.consumer(n, []any{"consumers", i})
	}
	for i, n := range p.list(top, "keyauth_credentials") {
		p.keyAuth(n, []any{"keyauth_credentials", i}, nil)
	}
	for i, n := range p.list(top, "jwt_secrets") {
		p.jwtSecret(n, []any{"jwt_secrets", i}, nil)
	}
	for i, n := range p.list(top, "plugins") {
		p.plugin(n, []any{"plugins", i}, nil, nil)
	}
	top.finish()
	p.resolve()
}

func (p *parser) list(o *obj, k string) []*yaml.Node {
	items, _ := o.seq(k, "an array")
	return items
}

// newEntity starts reading one entity, checking its id and uniqueness.
func (p *parser) newEntity(n *yaml.Node, path []any, typ string) (*obj, *entityRec) {
	ent := &entityRec{typ: typ, path: path}
	if n != nil {
		ent.line = n.Line
	}
	if n != nil && n.Kind == yaml.MappingNode {
		raw, _ := decodeRaw(n).(map[string]any)
		for _, child := range []string{"routes", "plugins", "targets", "keyauth_credentials", "jwt_secrets"} {
			delete(raw, child)
		}
		ent.raw = raw
		if s, ok := raw["name"].(string); ok {
			ent.name = s
		}
		if s, ok := raw["id"].(string); ok {
			ent.id = s
		}
		if tags, ok := raw["tags"].([]any); ok {
			for _, t := range tags {
				if s, ok := t.(string); ok {
					ent.tags = append(ent.tags, s)
				}
			}
		}
	}
	return p.w.object(n, path, ent), ent
}

// id reads the entity's id, or derives a stable one from key.
func (p *parser) id(o *obj, typ, key string) string {
	if s := o.str("id", ""); s != "" {
		if !isUUID(s) {
			o.fail("id", o.vals["id"], "expected a valid UUID")
		}
		return s
	}
	return uuid.NewSHA1(idNamespace, []byte(typ+"\x00"+key)).String()
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	_, err := uuid.Parse(s)
	return err == nil
}

// unique reports a second entity of a kind with the same key value, with
// Kong's wording.
func (p *parser) unique(o *obj, typ, field, value string) {
	if value == "" {
		return
	}
	m := p.seen[typ]
	if m == nil {
		m = map[string]int{}
		p.seen[typ] = m
	}
	m[field+"\x00"+value]++
	if m[field+"\x00"+value] > 1 {
		p.w.entityError(o.ent, fmt.Sprintf("uniqueness violation: '%s' entity with %s set to '%s' already declared", typ, field, value), o.line())
	}
}

var nameRe = regexp.MustCompile(`^[\p{L}\p{N}.\-_~]+$`)

func (p *parser) name(o *obj) string {
	s := o.str("name", "")
	if o.has("name") && s != "" && !nameRe.MatchString(s) {
		o.fail("name", o.vals["name"], fmt.Sprintf("invalid value '%s': it must only contain alphanumeric and '., -, _, ~' characters", s))
	}
	return s
}

func (p *parser) tags(o *obj) []string { return o.strings("tags", "a set", nil) }

func (p *parser) caCert(n *yaml.Node, path []any) {
	o, ent := p.newEntity(n, path, "ca_certificate")
	ent.typ = "ca_certificate"
	c := &CACertificate{Tags: p.tags(o)}
	c.Cert = o.str("cert", "")
	if !o.has("cert") {
		o.fail("cert", nil, "required field missing")
	}
	o.skip("cert_digest", "created_at", "updated_at")
	c.ID = p.id(o, "ca_certificates", c.Cert)
	if !o.has("id") {
		// A service can only name a CA by id, so a CA without one is useless.
		o.fail("id", nil, "required field missing (services reference ca_certificates by id)")
	}
	if c.Cert != "" {
		block, _ := pem.Decode([]byte(c.Cert))
		var cert *x509.Certificate
		var err error
		if block == nil {
			err = fmt.Errorf("no PEM block found")
		} else {
			cert, err = x509.ParseCertificate(block.Bytes)
		}
		switch {
		case err != nil:
			o.fail("cert", o.vals["cert"], "invalid certificate: "+err.Error())
		case !cert.IsCA:
			o.fail("cert", o.vals["cert"], `certificate does not appear to be a CA because it is missing the "CA" basic constraint`)
		default:
			c.x509 = cert
		}
	}
	p.unique(o, "ca_certificates", "id", c.ID)
	o.finish()
	p.cfg.CACertificates = append(p.cfg.CACertificates, c)
}

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
	s.ID = p.id(o, "services", firstNonEmpty(s.Name, pathString(path)))
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
	o.integer("https_redirect_status_code", 426, 0, 999)
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
	r.ID = p.id(o, "routes", firstNonEmpty(r.Name, pathString(path)))
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
	u.ID = p.id(o, "upstreams", u.Name)
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

func (p *parser) consumer(n *yaml.Node, path []any) {
	o, ent := p.newEntity(n, path, "consumer")
	c := &Consumer{Tags: p.tags(o)}
	c.Username = o.str("username", "")
	c.CustomID = o.str("custom_id", "")
	if ent.name == "" {
		ent.name = c.Username
	}
	if c.Username == "" && c.CustomID == "" {
		p.w.entityError(o.ent, "at least one of these fields must be non-empty: 'custom_id', 'username'", o.line())
	}
	o.skip("created_at", "updated_at")
	c.ID = p.id(o, "consumers", firstNonEmpty(c.Username, c.CustomID, pathString(path)))
	p.unique(o, "consumers", "username", c.Username)
	p.unique(o, "consumers", "custom_id", c.CustomID)
	p.cfg.Consumers = append(p.cfg.Consumers, c)
	for i, kn := range p.list(o, "keyauth_credentials") {
		p.keyAuth(kn, extend(path, "keyauth_credentials", i), c)
	}
	for i, jn := range p.list(o, "jwt_secrets") {
		p.jwtSecret(jn, extend(path, "jwt_secrets", i), c)
	}
	if _, ok := o.seq("plugins", "an array"); ok {
		o.fail("plugins", o.vals["plugins"], "the emulation does not support consumer-scoped plugins")
	}
	for _, k := range []string{"acls", "basicauth_credentials", "hmacauth_credentials", "oauth2_credentials", "mtls_auth_credentials"} {
		if o.has(k) {
			o.fail(k, o.vals[k], "the emulation does not support "+k)
		}
	}
	o.finish()
}

func (p *parser) credentialOwner(o *obj, c *Consumer, target any) {
	if c != nil {
		return
	}
	cn := o.get("consumer")
	if cn == nil {
		o.fail("consumer", nil, "required field missing")
		return
	}
	p.credRefs = append(p.credRefs, ref{o: o, field: "consumer", value: refValue(cn), node: cn, target: target})
}

func (p *parser) keyAuth(n *yaml.Node, path []any, c *Consumer) {
	o, _ := p.newEntity(n, path, "keyauth_credential")
	k := &KeyAuthCredential{Consumer: c}
	k.Key = o.str("key", "")
	if k.Key == "" {
		k.Key = strings.ReplaceAll(uuid.NewString(), "-", "") // Kong generates one
	}
	o.skip("tags", "created_at", "ttl")
	k.ID = p.id(o, "keyauth_credentials", k.Key)
	p.unique(o, "keyauth_credentials", "key", k.Key)
	p.credentialOwner(o, c, k)
	if c != nil {
		c.KeyAuthCredentials = append(c.KeyAuthCredentials, k)
	}
	o.finish()
}

var jwtAlgorithms = []string{"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA"}

func (p *parser) jwtSecret(n *yaml.Node, path []any, c *Consumer) {
	o, _ := p.newEntity(n, path, "jwt_secret")
	j := &JWTSecret{Consumer: c}
	j.Key = o.str("key", "")
	if j.Key == "" {
		j.Key = strings.ReplaceAll(uuid.NewString(), "-", "")
	}
	j.Secret = o.str("secret", "")
	if j.Secret == "" {
		j.Secret = strings.ReplaceAll(uuid.NewString(), "-", "")
	}
	j.Algorithm = o.strOneOf("algorithm", "HS256", jwtAlgorithms...)
	j.RSAPublicKey = o.str("rsa_public_key", "")
	switch {
	case strings.HasPrefix(j.Algorithm, "RS") || strings.HasPrefix(j.Algorithm, "PS") || strings.HasPrefix(j.Algorithm, "ES"):
		if j.RSAPublicKey == "" {
			o.fail("rsa_public_key", nil, "required field missing")
			break
		}
		key, err := parsePublicKey(j.RSAPublicKey)
		if err != nil {
			o.fail("rsa_public_key", o.vals["rsa_public_key"], "invalid key")
		}
		j.rsaKey = key
	case j.Algorithm == "EdDSA":
		o.fail("algorithm", o.vals["algorithm"], "the emulation supports HS*, RS*, PS* and ES* algorithms")
	}
	o.skip("tags", "created_at")
	j.ID = p.id(o, "jwt_secrets", j.Key)
	p.unique(o, "jwt_secrets", "key", j.Key)
	p.credentialOwner(o, c, j)
	if c != nil {
		c.JWTSecrets = append(c.JWTSecrets, j)
	}
	o.finish()
}

func (p *parser) plugin(n *yaml.Node, path []any, svc *Service, route *Route) {
	o, _ := p.newEntity(n, path, "plugin")
	pl := &Plugin{Service: svc, Route: route}
	pl.Name = o.str("name", "")
	if !o.has("name") {
		o.fail("name", nil, "required field missing")
	}
	pl.Enabled = o.boolean("enabled", true)
	pl.Tags = p.tags(o)
	pl.Protocols = o.strings("protocols", "a set", []string{"grpc", "grpcs", "http", "https"})
	o.skip("created_at", "updated_at", "instance_name", "ordering")
	def, known := pluginDefs[pl.Name]
	switch {
	case pl.Name == "":
	case !known && bundledPlugins[pl.Name]:
		o.fail("name", o.vals["name"], fmt.Sprintf("the emulation does not support plugin '%s' (supported: %s)", pl.Name, strings.Join(supportedPluginNames(), ", ")))
		o.skip("config")
	case !known:
		o.fail("name", o.vals["name"], fmt.Sprintf("plugin '%s' not enabled; add it to the 'plugins' configuration property", pl.Name))
		o.skip("config")
	default:
		co := o.record("config")
		pl.Config = def.parse(co)
		co.finish()
	}
	sref, rref, cref := o.get("service"), o.get("route"), o.get("consumer")
	if sref != nil || rref != nil || cref != nil {
		pr := pluginRef{o: o, pl: pl, svcN: sref, routeN: rref, conN: cref}
		if sref != nil {
			pr.svc = refValue(sref)
		}
		if rref != nil {
			pr.route = refValue(rref)
		}
		if cref != nil {
			pr.consum = refValue(cref)
		}
		p.pluginRefs = append(p.pluginRefs, pr)
	}
	pl.ID = p.id(o, "plugins", pathString(path)+pl.Name)
	p.cfg.Plugins = append(p.cfg.Plugins, pl)
	o.finish()
}

// resolve links references by name or id, with Kong's wording on failure.
func (p *parser) resolve() {
	svcs := map[string]*Service{}
	for _, s := range p.cfg.Services {
		svcs[s.ID] = s
		if s.Name != "" {
			svcs[s.Name] = s
		}
	}
	routes := map[string]*Route{}
	for _, r := range p.cfg.Routes {
		routes[r.ID] = r
		if r.Name != "" {
			routes[r.Name] = r
		}
	}
	consumers := map[string]*Consumer{}
	for _, c := range p.cfg.Consumers {
		consumers[c.ID] = c
		if c.Username != "" {
			consumers[c.Username] = c
		}
	}
	ups := map[string]*Upstream{}
	for _, u := range p.cfg.Upstreams {
		ups[u.ID] = u
		ups[u.Name] = u
	}
	cas := map[string]bool{}
	for _, c := range p.cfg.CACertificates {
		cas[c.ID] = true
	}
	invalid := func(r ref, entity string) {
		r.o.fail(r.field, r.node, fmt.Sprintf("invalid reference '%s: %s' (no such entry in '%s')", r.field, r.value, entity))
	}
	for _, r := range p.routeRefs {
		if s := svcs[r.value]; s != nil {
			r.target.(*Route).Service = s
		} else {
			invalid(r, "services")
		}
	}
	for _, r := range p.caRefs {
		if !cas[r.value] {
			invalid(r, "ca_certificates")
		}
	}
	for _, r := range p.targetRefs {
		if u := ups[r.value]; u != nil {
			u.Targets = append(u.Targets, r.target.(*Target))
		} else {
			invalid(r, "upstreams")
		}
	}
	for _, r := range p.credRefs {
		c := consumers[r.value]
		if c == nil {
			invalid(r, "consumers")
			continue
		}
		switch cred := r.target.(type) {
		case *KeyAuthCredential:
			cred.Consumer = c
			c.KeyAuthCredentials = append(c.KeyAuthCredentials, cred)
		case *JWTSecret:
			cred.Consumer = c
			c.JWTSecrets = append(c.JWTSecrets, cred)
		}
	}
	for _, pr := range p.pluginRefs {
		if pr.svcN != nil {
			if s := svcs[pr.svc]; s != nil {
				pr.pl.Service = s
			} else {
				invalid(ref{o: pr.o, field: "service", value: pr.svc, node: pr.svcN}, "services")
			}
		}
		if pr.routeN != nil {
			if r := routes[pr.route]; r != nil {
				pr.pl.Route = r
			} else {
				invalid(ref{o: pr.o, field: "route", value: pr.route, node: pr.routeN}, "routes")
			}
		}
		if pr.conN != nil {
			pr.o.fail("consumer", pr.conN, "the emulation does not support consumer-scoped plugins")
		}
	}
	// One instance of a plugin per scope, like Kong's cache key.
	seen := map[string]bool{}
	for i, pl := range p.cfg.Plugins {
		key := pl.Name
		if pl.Service != nil {
			key += "|s:" + pl.Service.ID
		}
		if pl.Route != nil {
			key += "|r:" + pl.Route.ID
		}
		if seen[key] {
			p.w.errs = append(p.w.errs, FieldError{
				Path:    fmt.Sprintf("plugins[%d]", i),
				Message: fmt.Sprintf("uniqueness violation: 'plugins' entity with name set to '%s' already declared for this scope", pl.Name),
			})
		}
		seen[key] = true
	}
}
