package kong

import (
	"encoding/json"
	"io"
	"mime"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/chaoslab/chaoslab/fakes/kong/internal/config"
	"github.com/chaoslab/chaoslab/internal/loopback"
)

// The Admin API subset a trainee or scenario needs in DB-less mode: what
// is loaded, upstream health, and POST /config to reload.

func newUUID() string { return uuid.NewString() }

func (g *Gateway) serveAdmin(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	h := w.Header()
	h["Server"] = []string{serverHeader}
	if !g.opts.AllowNonLoopback && !loopbackPeer(r.RemoteAddr) {
		// The Admin API rewrites what a gateway under load serves: in the lab
		// it answers local clients only (a container's port published on
		// 127.0.0.1 arrives from the bridge: the lab allows that one).
		h["Content-Type"] = []string{mimeJSON}
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"message":"the emulation's Admin API answers loopback clients only"}`)
		return
	}
	h["Access-Control-Allow-Origin"] = []string{"*"}
	h["Access-Control-Allow-Credentials"] = []string{"true"} // Kong's CORS before-filter
	if unsupportedBody(r) {
		// api_helpers.before_filter: kong.response.exit(415), nginx's page.
		page := "<html>\r\n<head><title>415 Unsupported Media Type</title></head>\r\n<body>\r\n" +
			"<center><h1>415 Unsupported Media Type</h1></center>\r\n</body>\r\n</html>\r\n"
		h["Content-Type"] = []string{"text/html; charset=UTF-8"}
		h["Content-Length"] = []string{strconv.Itoa(len(page))}
		h["X-Kong-Admin-Latency"] = []string{msString(time.Since(start))}
		w.WriteHeader(http.StatusUnsupportedMediaType)
		io.WriteString(w, page)
		return
	}
	status, body := g.admin(r)
	h["Content-Type"] = []string{mimeJSON}
	h["X-Kong-Admin-Latency"] = []string{msString(time.Since(start))}
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	b := config.KongJSON(body)
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(status)
	w.Write(b)
}

type jsonObj = map[string]any

// loopbackPeer says whether a request's remote address is on this machine.
func loopbackPeer(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	return err == nil && loopback.Host(host) && !strings.EqualFold(host, "localhost")
}

// unsupportedBody is Kong's Admin API before_filter: a PUT, POST or PATCH
// with a body must be JSON, multipart or urlencoded (YAML too for /config).
func unsupportedBody(r *http.Request) bool {
	switch r.Method {
	case http.MethodPut, http.MethodPost, http.MethodPatch:
	default:
		return false
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody
	}
	for _, ok := range []string{"application/json", "multipart/form-data", "application/x-www-form-urlencoded"} {
		if strings.HasPrefix(ct, ok) {
			return false
		}
	}
	if strings.TrimSuffix(r.URL.Path, "/") == "/config" && (strings.HasPrefix(ct, "application/yaml") || strings.HasPrefix(ct, "text/yaml")) {
		return false
	}
	return true
}

func notFound() (int, any) { return http.StatusNotFound, jsonObj{"message": "Not found"} }
func notAllowed() (int, any) {
	return http.StatusMethodNotAllowed, jsonObj{"message": "Method not allowed"}
}
func list(data []any) jsonObj { return jsonObj{"data": data, "next": nil} }
func orNull[T any](v []T) any {
	if len(v) == 0 {
		return nil
	}
	return v
}

func (g *Gateway) admin(r *http.Request) (int, any) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) == 1 && parts[0] == "" {
		parts = nil
	}
	rt := g.rt.Load()
	get := r.Method == http.MethodGet || r.Method == http.MethodHead
	switch {
	case len(parts) == 0:
		if !get {
			return notAllowed()
		}
		return http.StatusOK, g.nodeInfo(rt)
	case parts[0] == "status" && len(parts) == 1:
		if !get {
			return notAllowed()
		}
		return http.StatusOK, g.status(rt)
	case parts[0] == "config" && len(parts) == 1:
		switch r.Method {
		case http.MethodPost:
			return g.postConfig(r)
		case http.MethodGet:
			return http.StatusOK, jsonObj{"config": string(rt.cfg.Raw())}
		}
		return notAllowed()
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if r.Method == http.MethodOptions {
			return http.StatusNoContent, nil
		}
		// DB-less: entities are read-only except through /config; Kong
		// answers with its "operation unsupported" error.
		op := map[string]string{"POST": "create", "PATCH": "update", "PUT": "create or update", "DELETE": "remove"}[r.Method]
		if op == "" {
			return notAllowed()
		}
		entity := parts[0]
		if len(parts) >= 3 {
			entity = parts[2] // /services/x/routes -> routes
		}
		by := "" // kong/db/strategies/off: *_by_field when addressed by name
		if len(parts) == 2 && r.Method != http.MethodPost {
			if _, err := uuid.Parse(parts[1]); err != nil {
				by = " by '" + map[string]string{"consumers": "username"}[entity] + "'"
				if by == " by ''" {
					by = " by 'name'"
				}
			}
		}
		return http.StatusMethodNotAllowed, jsonObj{"code": 12, "name": "operation unsupported",
			"message": "cannot " + op + " '" + entity + "' entities" + by + " when not using a database"}
	}
	cfg := rt.cfg
	switch parts[0] {
	case "services":
		if len(parts) == 3 && parts[2] == "routes" {
			return serviceRoutes(cfg, parts[1], g.routeJSON)
		}
		return entityEndpoint(parts, cfg.Services, func(s *config.Service) bool { return len(parts) > 1 && (s.ID == parts[1] || s.Name == parts[1]) }, g.serviceJSON)
	case "routes":
		return entityEndpoint(parts, cfg.Routes, func(x *config.Route) bool { return len(parts) > 1 && (x.ID == parts[1] || x.Name == parts[1]) }, g.routeJSON)
	case "consumers":
		return entityEndpoint(parts, cfg.Consumers, func(c *config.Consumer) bool { return len(parts) > 1 && (c.ID == parts[1] || c.Username == parts[1]) }, g.consumerJSON)
	case "plugins":
		return entityEndpoint(parts, cfg.Plugins, func(p *config.Plugin) bool { return len(parts) > 1 && p.ID == parts[1] }, g.pluginJSON)
	case "upstreams":
		return g.upstreamEndpoint(rt, parts, r)
	}
	return notFound()
}

func entityEndpoint[T any](parts []string, all []T, is func(T) bool, render func(T) jsonObj) (int, any) {
	switch len(parts) {
	case 1:
		data := make([]any, 0, len(all))
		for _, e := range all {
			data = append(data, render(e))
		}
		return http.StatusOK, list(data)
	case 2:
		for _, e := range all {
			if is(e) {
				return http.StatusOK, render(e)
			}
		}
	}
	return notFound()
}

// serviceRoutes is GET /services/{id or name}/routes.
func serviceRoutes(cfg *config.Config, svc string, render func(*config.Route) jsonObj) (int, any) {
	for _, s := range cfg.Services {
		if s.ID != svc && s.Name != svc {
			continue
		}
		data := []any{}
		for _, r := range cfg.Routes {
			if r.Service == s {
				data = append(data, render(r))
			}
		}
		return http.StatusOK, list(data)
	}
	return notFound()
}

func (g *Gateway) created() int64 { return g.startedAt.Unix() }

func (g *Gateway) serviceJSON(s *config.Service) jsonObj {
	var path any
	if s.Path != "" {
		path = s.Path
	}
	return jsonObj{
		"id": s.ID, "name": nullable(s.Name), "protocol": s.Protocol, "host": s.Host, "port": s.Port, "path": path,
		"retries": s.Retries, "connect_timeout": s.ConnectTimeout, "write_timeout": s.WriteTimeout, "read_timeout": s.ReadTimeout,
		"tls_verify": s.TLSVerify, "tls_verify_depth": s.TLSVerifyDepth, "ca_certificates": orNull(s.CACertificates),
		"client_certificate": nil, "tags": orNull(s.Tags), "enabled": s.Enabled,
		"created_at": g.created(), "updated_at": g.created(),
	}
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (g *Gateway) routeJSON(r *config.Route) jsonObj {
	var headers any
	if len(r.Headers) > 0 {
		headers = r.Headers
	}
	return jsonObj{
		"id": r.ID, "name": nullable(r.Name), "protocols": r.Protocols, "methods": orNull(r.Methods), "hosts": orNull(r.Hosts),
		"paths": orNull(r.Paths), "headers": headers, "snis": nil, "sources": nil, "destinations": nil,
		"strip_path": r.StripPath, "preserve_host": r.PreserveHost, "regex_priority": r.RegexPriority,
		"path_handling": r.PathHandling, "https_redirect_status_code": r.HTTPSRedirectStatusCode, "request_buffering": true, "response_buffering": true,
		"tags": orNull(r.Tags), "service": jsonObj{"id": r.Service.ID}, "created_at": g.created(), "updated_at": g.created(),
	}
}

func (g *Gateway) consumerJSON(c *config.Consumer) jsonObj {
	return jsonObj{"id": c.ID, "username": nullable(c.Username), "custom_id": nullable(c.CustomID), "tags": orNull(c.Tags),
		"created_at": g.created(), "updated_at": g.created()}
}

func (g *Gateway) pluginJSON(p *config.Plugin) jsonObj {
	ref := func(id string) any {
		if id == "" {
			return nil
		}
		return jsonObj{"id": id}
	}
	var svc, route string
	if p.Service != nil {
		svc = p.Service.ID
	}
	if p.Route != nil {
		route = p.Route.ID
	}
	return jsonObj{"id": p.ID, "name": p.Name, "enabled": p.Enabled, "service": ref(svc), "route": ref(route),
		"consumer": nil, "protocols": p.Protocols, "tags": orNull(p.Tags), "config": pluginConfigJSON(p),
		"instance_name": nil, "created_at": g.created(), "updated_at": g.created()}
}

// pluginSchemaDefaults are schema fields real Kong 3.9.1 lists in a
// plugin's config that the emulation does not implement, with Kong's
// defaults.
var pluginSchemaDefaults = map[string]jsonObj{
	"rate-limiting": {"fault_tolerant": true, "sync_rate": -1,
		"redis": jsonObj{"database": 0, "host": nil, "password": nil, "port": 6379, "server_name": nil, "ssl": false,
			"ssl_verify": false, "timeout": 2000, "username": nil},
		"redis_database": 0, "redis_host": nil, "redis_password": nil, "redis_port": 6379, "redis_server_name": nil,
		"redis_ssl": false, "redis_ssl_verify": false, "redis_timeout": 2000, "redis_username": nil},
	"request-termination": {"echo": false, "trigger": nil},
}

// pluginConfigJSON renders a plugin's config as Kong does: unset strings
// are null, and the schema fields the emulation lacks carry their defaults.
func pluginConfigJSON(p *config.Plugin) any {
	var m map[string]any
	if err := json.Unmarshal(config.KongJSON(p.Config), &m); err != nil {
		return p.Config
	}
	for k, v := range m {
		if v == "" {
			m[k] = nil
		}
	}
	for k, v := range pluginSchemaDefaults[p.Name] {
		if _, ok := m[k]; !ok {
			m[k] = v
		}
	}
	return m
}

func (g *Gateway) upstreamEndpoint(rt *liveConfig, parts []string, r *http.Request) (int, any) {
	if len(parts) == 1 {
		data := make([]any, 0, len(rt.cfg.Upstreams))
		for _, u := range rt.cfg.Upstreams {
			data = append(data, g.upstreamJSON(u))
		}
		return http.StatusOK, list(data)
	}
	var up *config.Upstream
	for _, u := range rt.cfg.Upstreams {
		if u.ID == parts[1] || u.Name == parts[1] {
			up = u
		}
	}
	if up == nil {
		return notFound()
	}
	switch {
	case len(parts) == 2:
		return http.StatusOK, g.upstreamJSON(up)
	case len(parts) == 3 && parts[2] == "targets":
		data := make([]any, 0, len(up.Targets))
		for _, t := range up.Targets {
			data = append(data, jsonObj{"id": t.ID, "target": t.Target, "weight": t.Weight, "upstream": jsonObj{"id": up.ID}, "tags": orNull(t.Tags),
				"created_at": float64(g.created()), "updated_at": float64(g.created())})
		}
		return http.StatusOK, list(data)
	case len(parts) == 3 && parts[2] == "health":
		return http.StatusOK, g.healthJSON(rt, up, r.URL.Query().Get("balancer_health") == "1")
	}
	return notFound()
}

func (g *Gateway) upstreamJSON(u *config.Upstream) jsonObj {
	hc := u.Healthchecks
	return jsonObj{
		"id": u.ID, "name": u.Name, "algorithm": u.Algorithm, "slots": u.Slots, "host_header": nullable(u.HostHeader),
		"hash_on": "none", "hash_fallback": "none", "tags": orNull(u.Tags),
		"hash_on_header": nil, "hash_fallback_header": nil, "hash_on_cookie": nil, "hash_on_cookie_path": "/",
		"hash_on_query_arg": nil, "hash_fallback_query_arg": nil, "hash_on_uri_capture": nil, "hash_fallback_uri_capture": nil,
		"client_certificate": nil, "use_srv_name": false, "created_at": g.created(), "updated_at": g.created(),
		"healthchecks": jsonObj{
			"threshold": hc.Threshold,
			"active": jsonObj{
				"type": hc.Active.Type, "http_path": hc.Active.HTTPPath, "timeout": hc.Active.Timeout, "headers": nil, "https_sni": nil,
				"concurrency": hc.Active.Concurrency, "https_verify_certificate": hc.Active.HTTPSVerifyCertificate,
				"healthy":   jsonObj{"interval": hc.Active.Healthy.Interval, "http_statuses": hc.Active.Healthy.HTTPStatuses, "successes": hc.Active.Healthy.Successes},
				"unhealthy": jsonObj{"interval": hc.Active.Unhealthy.Interval, "http_statuses": hc.Active.Unhealthy.HTTPStatuses, "tcp_failures": hc.Active.Unhealthy.TCPFailures, "timeouts": hc.Active.Unhealthy.Timeouts, "http_failures": hc.Active.Unhealthy.HTTPFailures},
			},
			"passive": jsonObj{
				"type":      hc.Passive.Type,
				"healthy":   jsonObj{"http_statuses": hc.Passive.Healthy.HTTPStatuses, "successes": hc.Passive.Healthy.Successes},
				"unhealthy": jsonObj{"http_statuses": hc.Passive.Unhealthy.HTTPStatuses, "tcp_failures": hc.Passive.Unhealthy.TCPFailures, "timeouts": hc.Passive.Unhealthy.Timeouts, "http_failures": hc.Passive.Unhealthy.HTTPFailures},
			},
		},
	}
}

// healthJSON is Kong's GET /upstreams/{name}/health answer.
func (g *Gateway) healthJSON(rt *liveConfig, up *config.Upstream, balancerHealth bool) jsonObj {
	b := rt.upstreams[up.Name]
	th := b.health()
	total, avail := 0, 0
	data := make([]any, 0, len(th))
	for i, t := range th {
		addrs := []any{}
		if t.Addr != "" || t.Health != "DNS_ERROR" {
			ip := t.Host
			if t.Addr != "" {
				ip = t.Addr[:strings.LastIndex(t.Addr, ":")]
			}
			addrs = append(addrs, jsonObj{"ip": strings.Trim(ip, "[]"), "port": t.Port, "health": t.Health, "weight": t.Weight})
		}
		total += t.Weight
		if t.Health == "HEALTHY" || t.Health == "HEALTHCHECKS_OFF" {
			avail += t.Weight
		}
		data = append(data, jsonObj{
			"id": up.Targets[i].ID, "target": t.Target, "weight": t.Weight, "upstream": jsonObj{"id": up.ID},
			"tags": orNull(up.Targets[i].Tags), "created_at": float64(g.created()), "updated_at": float64(g.created()),
			"health": t.Health,
			"data": jsonObj{"addresses": addrs, "host": t.Host, "port": t.Port, "nodeWeight": t.Weight, "dns": "A",
				"weight": jsonObj{"total": t.Weight, "available": map[bool]int{true: t.Weight}[t.Health == "HEALTHY" || t.Health == "HEALTHCHECKS_OFF"], "unavailable": map[bool]int{false: t.Weight}[t.Health == "HEALTHY" || t.Health == "HEALTHCHECKS_OFF"]}},
		})
	}
	if balancerHealth {
		health := "HEALTHY"
		switch {
		case !b.activeOn && !b.passiveOn:
			health = "HEALTHCHECKS_OFF"
		case avail == 0:
			health = "UNHEALTHY"
		}
		return jsonObj{"data": jsonObj{"id": up.ID, "health": health, "details": jsonObj{
			"healthy": avail > 0, "weight": jsonObj{"total": total, "available": avail, "unavailable": total - avail},
		}}, "next": nil, "node_id": g.nodeID}
	}
	return jsonObj{"data": data, "next": nil, "node_id": g.nodeID}
}

func (g *Gateway) nodeInfo(rt *liveConfig) jsonObj {
	names := config.SupportedPlugins()
	avail := jsonObj{}
	for _, n := range names {
		avail[n] = jsonObj{"version": version, "priority": config.PluginPriority(n)}
	}
	enabled := map[string]bool{}
	for _, p := range rt.cfg.Plugins {
		enabled[p.Name] = true
	}
	inCluster := make([]string, 0, len(enabled))
	for n := range enabled {
		inCluster = append(inCluster, n)
	}
	sort.Strings(inCluster)
	host, _ := os.Hostname()
	return jsonObj{
		"version": version, "edition": "community", "tagline": "Welcome to kong", "hostname": host,
		"node_id": g.nodeID, "lua_version": "LuaJIT 2.1.0-20231117 (chaoslab emulation)",
		"pids":    jsonObj{"master": os.Getpid(), "workers": []int{os.Getpid()}},
		"timers":  jsonObj{"running": 0, "pending": 0},
		"plugins": jsonObj{"available_on_server": avail, "enabled_in_cluster": inCluster},
		"configuration": jsonObj{
			"database": "off", "role": "traditional", "router_flavor": "traditional_compatible",
			"proxy_listen": []string{g.proxyLn.Addr().String()}, "admin_listen": []string{g.adminLn.Addr().String()},
			"headers": []string{"server_tokens", "latency_tokens", "x-kong-request-id"}, "headers_upstream": []string{"x-kong-request-id"},
			"error_default_type": "text/plain", "plugins": []string{"bundled"}, "loaded_plugins": avail,
			"upstream_keepalive_pool_size": 512, "upstream_keepalive_idle_timeout": 60, "upstream_keepalive_max_requests": 10000,
			"nginx_worker_processes": "1", "trusted_ips": g.trustedIPsConf(), "real_ip_header": "X-Real-IP",
			"declarative_config_hash": rt.cfg.Hash,
		},
	}
}

func (g *Gateway) status(rt *liveConfig) jsonObj {
	active := g.connsActive.Load()
	accepted := g.connSeq.Load()
	return jsonObj{ // DB-less: no "database" section (real Kong 3.9.1)
		"server": jsonObj{
			"connections_accepted": accepted, "connections_handled": accepted, "connections_active": active,
			"connections_reading": 0, "connections_writing": g.inflight.Load(), "connections_waiting": max(0, active-g.inflight.Load()),
			"total_requests": g.requests.Load(),
		},
		"configuration_hash": rt.cfg.Hash,
	}
}

// postConfig is POST /config: the body is the YAML/JSON itself, a JSON
// {"config": "..."}, or a form (urlencoded or multipart) field config.
func (g *Gateway) postConfig(r *http.Request) (int, any) {
	if !g.loading.CompareAndSwap(false, true) {
		return http.StatusTooManyRequests, jsonObj{"message": "Currently loading previous configuration"}
	}
	defer g.loading.Store(false)
	raw, err := readConfigBody(r)
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/json" && err == nil && len(strings.TrimSpace(string(raw))) == 0 {
		return http.StatusBadRequest, jsonObj{"message": "Cannot parse JSON body"} // lapis, before Kong looks
	}
	if err != nil || len(strings.TrimSpace(string(raw))) == 0 {
		return http.StatusBadRequest, jsonObj{"message": "expected a declarative configuration"}
	}
	cfg, err := config.Parse(raw)
	if err != nil {
		ce := err.(*config.Error)
		flatten := r.URL.Query().Get("flatten_errors")
		var body any
		json.Unmarshal(ce.KongBody(flatten == "1" || flatten == "true"), &body)
		return http.StatusBadRequest, body
	}
	g.swap(cfg)
	return http.StatusCreated, entitiesJSON(g, cfg)
}

func readConfigBody(r *http.Request) ([]byte, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "multipart/form-data":
		if err := r.ParseMultipartForm(32 << 20); err != nil {
			return nil, err
		}
		if f, _, err := r.FormFile("config"); err == nil {
			defer f.Close()
			return io.ReadAll(f)
		}
		return []byte(r.FormValue("config")), nil
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			return nil, err
		}
		return []byte(r.PostForm.Get("config")), nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	var wrapped struct {
		Config        *string `json:"config"`
		FormatVersion any     `json:"_format_version"`
	}
	if json.Unmarshal(b, &wrapped) == nil && wrapped.Config != nil && wrapped.FormatVersion == nil {
		return []byte(*wrapped.Config), nil
	}
	return b, nil
}

// entitiesJSON is POST /config's 201 body: the loaded entities by type and id.
func entitiesJSON(g *Gateway, cfg *config.Config) jsonObj {
	byID := func(n int, f func(i int) (string, jsonObj)) jsonObj {
		m := jsonObj{}
		for i := 0; i < n; i++ {
			id, v := f(i)
			m[id] = v
		}
		return m
	}
	out := jsonObj{
		"services":  byID(len(cfg.Services), func(i int) (string, jsonObj) { return cfg.Services[i].ID, g.serviceJSON(cfg.Services[i]) }),
		"routes":    byID(len(cfg.Routes), func(i int) (string, jsonObj) { return cfg.Routes[i].ID, g.routeJSON(cfg.Routes[i]) }),
		"upstreams": byID(len(cfg.Upstreams), func(i int) (string, jsonObj) { return cfg.Upstreams[i].ID, g.upstreamJSON(cfg.Upstreams[i]) }),
		"consumers": byID(len(cfg.Consumers), func(i int) (string, jsonObj) { return cfg.Consumers[i].ID, g.consumerJSON(cfg.Consumers[i]) }),
		"plugins":   byID(len(cfg.Plugins), func(i int) (string, jsonObj) { return cfg.Plugins[i].ID, g.pluginJSON(cfg.Plugins[i]) }),
	}
	return out
}
