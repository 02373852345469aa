// Package config loads and validates kong.yml the way Kong 3.9 does in DB-less
// mode: entities with Kong's defaults, references resolved, and every
// failure reported as Kong's field errors (Error, with the Admin API's body).
// plugin_<name>.go is one plugin's config schema; its run-time part is
// fakes/kong/plugin_<name>.go.
package config

import (
	"crypto/md5"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math"
	"regexp"
	"sort"
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

// Raw is the kong.yml this Config was parsed from, as given.
func (c *Config) Raw() []byte { return c.raw }

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
	// HTTPSRedirectStatusCode answers plain-HTTP requests to an https-only
	// route: 426, or a redirect (301, 302, 307, 308) to https://host/uri.
	HTTPSRedirectStatusCode int
	Tags                    []string

	regexes []*regexp.Regexp // per path; nil for prefix paths
}

// PathRegex is the compiled regex of Paths[i] (a "~" path), nil for a prefix path.
func (r *Route) PathRegex(i int) *regexp.Regexp { return r.regexes[i] }

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

// PublicKey is the parsed RSAPublicKey (RS*, PS* and ES* algorithms), nil otherwise.
func (j *JWTSecret) PublicKey() any { return j.rsaKey }

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

// X509 is the parsed Cert.
func (c *CACertificate) X509() *x509.Certificate { return c.x509 }

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

// Parse parses and validates a kong.yml (YAML or JSON). On failure it
// returns a *Error naming every bad entity and field.
func Parse(b []byte) (*Config, error) {
	root, err := parseDocument(b)
	if err != nil {
		return nil, &Error{Errors: []FieldError{{Message: err.Error(), path: []any{"error"}}}}
	}
	p := &parser{w: &walker{}, cfg: &Config{}, seen: map[string]map[string]int{}}
	p.cfg.Hash = md5hex(b)
	p.cfg.raw = append([]byte(nil), b...)
	p.top(root)
	p.w.errs = schemaFirst(p.w.errs)
	if len(p.w.errs) > 0 {
		// In reading order; errors without a line (cross-entity checks) last.
		sort.SliceStable(p.w.errs, func(i, j int) bool {
			li, lj := p.w.errs[i].Line, p.w.errs[j].Line
			if li == 0 || lj == 0 {
				return lj == 0 && li != 0
			}
			return li < lj
		})
		return nil, &Error{Errors: p.w.errs}
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

// kongEntitiesNamespace is the UUIDv5 namespace Kong's declarative loader
// derives one namespace per entity type from (schema/others/declarative_config).
var kongEntitiesNamespace = uuid.MustParse("fd02801f-0957-4a15-a55a-c8d9606f30b5")

// kongID is the id real Kong gives an entity without one whose endpoint key
// is unique (a service's or route's name, a consumer's username):
// v5(v5(entities, type), key). Kong and the emulation loading the same file
// then agree on ids, which matters where an id leaves the gateway: the
// rate-limiting plugin's Redis keys carry the route and service ids.
func (p *parser) kongID(o *obj, typ, key, fallback string) string {
	if key == "" || o.str("id", "") != "" {
		return p.id(o, typ, fallback)
	}
	return uuid.NewSHA1(uuid.NewSHA1(kongEntitiesNamespace, []byte(typ)), []byte(key)).String()
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
	if m[field+"\x00"+value] <= 1 {
		return
	}
	msg := fmt.Sprintf("uniqueness violation: '%s' entity with %s set to '%s' already declared", typ, field, value)
	if endpointKeys[typ] != field || o.ent == nil || len(o.ent.path) == 0 {
		p.w.entityError(o.ent, msg, o.line())
		return
	}
	// Kong checks an entity's endpoint key (a service's or route's name, a
	// consumer's username...) after the schema, while resolving references,
	// and files the error under the entity TYPE at the entity's index in the
	// list it sits in, however deeply nested: a second route "dup" that is
	// the first route of the second service is fields.routes[1] (1-based).
	idx, _ := o.ent.path[len(o.ent.path)-1].(int)
	p.w.errs = append(p.w.errs, FieldError{Path: pathString(o.ent.path), Message: msg, Line: o.ent.line,
		path: []any{typ, idx}, entity: o.ent, reference: true})
}

// schemaFirst keeps only the schema's errors when there are any: Kong
// checks references and uniqueness only in a file whose schema holds.
func schemaFirst(errs []FieldError) []FieldError {
	var schema []FieldError
	for _, fe := range errs {
		if !fe.reference {
			schema = append(schema, fe)
		}
	}
	if len(schema) > 0 {
		return schema
	}
	return errs
}

// endpointKeys are the unique endpoint keys Kong's declarative loader checks
// for uniqueness across the whole file, per entity type.
var endpointKeys = map[string]string{
	"services": "name", "routes": "name", "consumers": "username", "upstreams": "name",
	"keyauth_credentials": "key", "jwt_secrets": "key",
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
