package conformance

import (
	"strings"
	"time"
)

// Accept variants every Kong-written error is requested with.
var accepts = []struct{ name, value string }{
	{"none", ""}, {"any", "*/*"}, {"json", "application/json"},
	{"html", "text/html"}, {"xml", "application/xml"}, {"text", "text/plain"},
}

var (
	full     = Compare{Body: true, Headers: true}
	proxied  = Compare{Headers: true, Upstream: true, Tries: true}
	failures = Compare{Body: true, Headers: true, Tries: true, ErrorLog: true}
	adminAll = Compare{Body: true}
)

func get(path string, hdr ...string) Request {
	r := Request{Method: "GET", Path: path, Headers: map[string]string{}}
	for i := 0; i+1 < len(hdr); i += 2 {
		if strings.EqualFold(hdr[i], "Host") {
			r.Host = hdr[i+1]
			continue
		}
		r.Headers[hdr[i]] = hdr[i+1]
	}
	return r
}

func with(r Request, method, body string) Request { r.Method, r.Body = method, body; return r }

func from(ip string, r Request) Request { r.From = ip; return r }

func trailing(r Request, rest string) Request { r.Trailing = rest; return r }

func accept(v string) []string {
	if v == "" {
		return nil
	}
	return []string{"Accept", v}
}

// Cases is the matrix, in the order it runs (later cases may rely on state
// earlier ones built: rate-limit counters, passive health).
func Cases() []Case {
	var cs []Case
	add := func(c Case) { cs = append(cs, c) }

	// Kong's own error bodies, content-negotiated per Accept.
	for _, a := range accepts {
		add(Case{Name: "no-route/accept-" + a.name, Group: "accept", Req: get("/nowhere", accept(a.value)...), Compare: full,
			Expect: Expect{Status: 404, BodyContains: []string{"no Route matched with those values"},
				Header: map[string]string{"X-Kong-Response-Latency": "<x-kong-response-latency>", "Server": "kong/3.9.1"}}})
	}
	for _, a := range accepts {
		add(Case{Name: "refused-502/accept-" + a.name, Group: "accept", Req: get("/refused0", accept(a.value)...), Compare: failures,
			Expect: Expect{Status: 502, BodyContains: []string{"An invalid response was received from the upstream server"},
				Header: map[string]string{"X-Kong-Response-Latency": "", "X-Kong-Upstream-Latency": "<x-kong-upstream-latency>",
					"X-Kong-Proxy-Latency": "<x-kong-proxy-latency>"}}})
	}
	for _, a := range []string{"", "application/json", "text/html"} {
		name := map[string]string{"": "none", "application/json": "json", "text/html": "html"}[a]
		add(Case{Name: "timeout-504/accept-" + name, Group: "accept", Req: get("/hang0", accept(a)...), Compare: failures,
			Expect: Expect{Status: 504, BodyContains: []string{"The upstream server is timing out"}, MinElapsed: 200 * time.Millisecond}})
	}
	add(Case{Name: "refused-502/content-type-json", Group: "accept", Req: with(get("/refused0", "Content-Type", "application/json"), "POST", `{"a":1}`), Compare: failures,
		Expect: Expect{Status: 502, BodyContains: []string{`"message"`}}})
	add(Case{Name: "no-route/content-type-json", Group: "accept", Req: with(get("/nowhere", "Content-Type", "application/json"), "POST", `{"a":1}`), Compare: full,
		Expect: Expect{Status: 404}})
	add(Case{Name: "no-route/accept-weighted", Group: "accept", Req: get("/nowhere", "Accept", "text/html;q=0.5, application/json;q=0.9"), Compare: full,
		Expect: Expect{Status: 404}})
	add(Case{Name: "no-route/head", Group: "accept", Req: with(get("/nowhere"), "HEAD", ""), Compare: Compare{Headers: true}, Expect: Expect{Status: 404}})
	add(Case{Name: "empty-upstream-503/accept-none", Group: "accept", Req: get("/emptypool"), Compare: full,
		Expect: Expect{Status: 503, BodyContains: []string{"failure to get a peer from the ring-balancer"}}})
	add(Case{Name: "empty-upstream-503/accept-html", Group: "accept", Req: get("/emptypool", "Accept", "text/html"), Compare: full,
		Expect: Expect{Status: 503}})
	// Both gateways resolve through the lab's fake DNS: a name error.
	add(Case{Name: "name-resolution-503", Group: "accept", Req: get("/nodns"), Compare: failures,
		Expect: Expect{Status: 503, BodyContains: []string{"name resolution failed"}}})
	add(Case{Name: "name-resolved", Group: "proxy", Req: get("/resolved/r"), Compare: proxied, Expect: Expect{Status: 200}})

	// Proxying: what the upstream receives and what the client gets back.
	add(Case{Name: "proxy/strip-path", Group: "proxy", Req: get("/echo/a/b"), Compare: proxied,
		Expect: Expect{Status: 200, Header: map[string]string{"Via": "1.1 kong/3.9.1", "X-Kong-Request-Id": "<request-id>"}}})
	add(Case{Name: "proxy/strip-path-root", Group: "proxy", Req: get("/echo"), Compare: proxied, Expect: Expect{Status: 200}})
	add(Case{Name: "proxy/strip-path-query", Group: "proxy", Req: get("/echo/q?a=1&b=2"), Compare: proxied, Expect: Expect{Status: 200}})
	add(Case{Name: "proxy/no-strip-path", Group: "proxy", Req: get("/nostrip/x"), Compare: proxied, Expect: Expect{Status: 200}})
	add(Case{Name: "proxy/host-not-preserved", Group: "proxy", Req: get("/echo/h", "Host", "client.example.test"), Compare: proxied})
	add(Case{Name: "proxy/preserve-host", Group: "proxy", Req: get("/preserve/h", "Host", "client.example.test"), Compare: proxied})
	add(Case{Name: "proxy/x-forwarded-for-appended", Group: "proxy", Req: get("/echo/xff", "X-Forwarded-For", "203.0.113.9"), Compare: proxied})
	add(Case{Name: "proxy/x-forwarded-untrusted", Group: "proxy", Req: get("/echo/xf", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "evil.test", "X-Forwarded-Port", "9999", "X-Real-IP", "198.51.100.1"), Compare: proxied})
	add(Case{Name: "proxy/post-body", Group: "proxy", Req: with(get("/echo/p", "Content-Type", "application/json"), "POST", `{"x":1}`), Compare: proxied})
	add(Case{Name: "proxy/head", Group: "proxy", Req: with(get("/echo/head"), "HEAD", ""), Compare: Compare{Headers: true, Tries: true}})
	add(Case{Name: "proxy/client-request-id-header", Group: "proxy", Req: get("/echo/rid", "X-Kong-Request-Id", "client-chosen"), Compare: proxied})
	add(Case{Name: "proxy/via-from-client", Group: "proxy", Req: get("/echo/via", "Via", "1.1 corp-proxy"), Compare: proxied})
	add(Case{Name: "proxy/upstream-500-passthrough", Group: "proxy", Req: get("/fail500"), Compare: Compare{Headers: true, Upstream: true, Tries: true, ErrorLog: true},
		Expect: Expect{Status: 500}})
	add(Case{Name: "proxy/upstream-500-accept-html", Group: "proxy", Req: get("/fail500", "Accept", "text/html"), Compare: Compare{Headers: true, Upstream: true, Tries: true},
		Expect: Expect{Status: 500, Header: map[string]string{"Content-Type": "application/json"}}})
	add(Case{Name: "proxy/upstream-entity", Group: "upstream", Req: get("/pool/u"), Compare: proxied, Expect: Expect{Status: 200}})

	// Routing.
	add(Case{Name: "route/host-match", Group: "route", Req: get("/hosted/x", "Host", "api.example.test"), Compare: proxied, Expect: Expect{Status: 200}})
	add(Case{Name: "route/host-with-port", Group: "route", Req: get("/hosted/x", "Host", "api.example.test:8000"), Compare: proxied})
	add(Case{Name: "route/host-mismatch", Group: "route", Req: get("/hosted/x", "Host", "other.example.test"), Compare: full, Expect: Expect{Status: 404}})
	add(Case{Name: "route/method-match", Group: "route", Req: get("/methods"), Compare: proxied, Expect: Expect{Status: 200}})
	add(Case{Name: "route/method-mismatch", Group: "route", Req: with(get("/methods"), "POST", "x"), Compare: full, Expect: Expect{Status: 404}})
	add(Case{Name: "route/method-put-mismatch", Group: "route", Req: with(get("/methods/x"), "PUT", "x"), Compare: full, Expect: Expect{Status: 404}})
	add(Case{Name: "route/regex-match", Group: "route", Req: get("/items/42"), Compare: proxied, Expect: Expect{Status: 200}})
	add(Case{Name: "route/regex-mismatch", Group: "route", Req: get("/items/abc"), Compare: full, Expect: Expect{Status: 404}})
	add(Case{Name: "route/prefix-longest", Group: "route", Req: get("/echoes"), Compare: proxied})
	add(Case{Name: "route/https-only-426", Group: "route", Req: get("/secure/x"), Compare: full,
		Expect: Expect{Status: 426, BodyContains: []string{"Please use HTTPS protocol"}, Header: map[string]string{"Upgrade": "TLS/1.2, HTTP/1.1"}}})
	// On a kept-alive connection (the suite's other requests close theirs):
	// Kong sets Connection: Upgrade on its 426 (runloop/handler.lua).
	add(Case{Name: "route/https-only-426-keepalive", Group: "route", Req: trailing(get("/echoes"), "GET /secure/x HTTP/1.1\r\nHost: x\r\n\r\n"), Compare: full,
		Expect: Expect{Status: 426, Header: map[string]string{"Connection": "keep-alive, Upgrade"}}})
	add(Case{Name: "route/https-only-426-html", Group: "route", Req: get("/secure/x", "Accept", "text/html"), Compare: full, Expect: Expect{Status: 426}})
	for _, code := range []string{"301", "302", "307", "308"} {
		add(Case{Name: "route/https-redirect-" + code, Group: "route", Req: get("/secure" + code + "/p?q=1"), Compare: full,
			Expect: Expect{Header: map[string]string{"Location": "https://127.0.0.1/secure" + code + "/p?q=1"}}})
	}
	add(Case{Name: "route/https-redirect-post", Group: "route", Req: with(get("/secure301/p"), "POST", "x"), Compare: full})
	add(Case{Name: "route/https-forwarded-proto-untrusted", Group: "route", Req: get("/secure/x", "X-Forwarded-Proto", "https"), Compare: full, Expect: Expect{Status: 426}})
	// A TLS-offloading LB in trusted_ips (scenario lb/x-forwarded-proto-dropped).
	add(Case{Name: "route/https-forwarded-proto-trusted", Group: "route", Req: from(TrustedPeer, get("/secure/x", "X-Forwarded-Proto", "https")), Compare: proxied, Expect: Expect{Status: 200}})
	add(Case{Name: "route/https-trusted-without-forwarded-proto", Group: "route", Req: from(TrustedPeer, get("/secure/x")), Compare: full, Expect: Expect{Status: 426}})
	add(Case{Name: "route/https-redirect-trusted-forwarded-host", Group: "route", Req: from(TrustedPeer, get("/secure301/p", "X-Forwarded-Host", "api.example.test")), Compare: full,
		Expect: Expect{Status: 301, Header: map[string]string{"Location": "https://api.example.test/secure301/p"}}})
	add(Case{Name: "proxy/x-forwarded-trusted", Group: "proxy", Req: from(TrustedPeer, get("/echo/xf", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "api.example.test", "X-Forwarded-Port", "443", "X-Forwarded-Path", "/public/xf", "X-Forwarded-Prefix", "/public")), Compare: proxied})
	// A body sent past its Content-Length (scenario lb/body-reframed): the
	// rest starts the next request on the connection, which gets Kong's 400.
	add(Case{Name: "proxy/body-past-content-length", Group: "proxy", Req: trailing(with(get("/echo/rf", "Content-Type", "application/json"), "POST", `{"qty`), `":1}GET /echo/next HTTP/1.1`+"\r\nHost: x\r\n\r\n"), Compare: Compare{Body: true, Headers: true, Tries: true, ErrorLog: true},
		Expect: Expect{Status: 400, BodyContains: []string{"Bad request\nrequest_id: "}, Header: map[string]string{"Content-Type": "text/plain; charset=utf-8", "Server": "kong/3.9.1"}}})

	// key-auth.
	add(Case{Name: "key-auth/missing", Group: "plugin", Req: get("/key"), Compare: full,
		Expect: Expect{Status: 401, BodyContains: []string{"No API key found in request"}, Header: map[string]string{"Www-Authenticate": "Key"}}})
	add(Case{Name: "key-auth/missing-accept-html", Group: "plugin", Req: get("/key", "Accept", "text/html"), Compare: full, Expect: Expect{Status: 401}})
	add(Case{Name: "key-auth/wrong-key", Group: "plugin", Req: get("/key", "apikey", "nope"), Compare: full,
		Expect: Expect{Status: 401, BodyContains: []string{"Unauthorized"}}})
	add(Case{Name: "key-auth/header", Group: "plugin", Req: get("/key/h", "apikey", "alice-key"), Compare: proxied, Expect: Expect{Status: 200}})
	add(Case{Name: "key-auth/query", Group: "plugin", Req: get("/key/q?apikey=alice-key"), Compare: proxied, Expect: Expect{Status: 200}})
	add(Case{Name: "key-auth/key-names-hidden", Group: "plugin", Req: get("/key-hide/h", "x-api-key", "alice-key"), Compare: proxied, Expect: Expect{Status: 200}})
	add(Case{Name: "key-auth/key-names-second-hidden", Group: "plugin", Req: get("/key-hide/h", "apikey", "alice-key"), Compare: proxied, Expect: Expect{Status: 200}})
	add(Case{Name: "key-auth/query-hidden", Group: "plugin", Req: get("/key-hide/q?apikey=alice-key&keep=1"), Compare: proxied, Expect: Expect{Status: 200}})
	add(Case{Name: "key-auth/preflight", Group: "plugin", Req: with(get("/key", "Origin", "http://app.test", "Access-Control-Request-Method", "GET"), "OPTIONS", ""), Compare: full,
		Expect: Expect{Status: 401}})
	add(Case{Name: "key-auth/key-names-default-refused", Group: "plugin", Req: get("/key-hide/h"), Compare: full, Expect: Expect{Status: 401}})

	// jwt.
	add(Case{Name: "jwt/missing", Group: "plugin", Req: get("/jwt"), Compare: full,
		Expect: Expect{Status: 401, BodyContains: []string{`"message":"Unauthorized"`}, Header: map[string]string{"Www-Authenticate": "Bearer"}}})
	add(Case{Name: "jwt/valid-bearer", Group: "plugin", Req: get("/jwt/v", "Authorization", "Bearer "+jwtValid), Compare: proxied, Expect: Expect{Status: 200}})
	add(Case{Name: "jwt/valid-uri-param", Group: "plugin", Req: get("/jwt/v?jwt=" + jwtValid), Compare: proxied, Expect: Expect{Status: 200}})
	add(Case{Name: "jwt/expired", Group: "plugin", Req: get("/jwt-exp", "Authorization", "Bearer "+jwtExpired), Compare: full,
		Expect: Expect{Status: 401, BodyContains: []string{`{"exp":"token expired"}`}}})
	add(Case{Name: "jwt/expired-not-verified", Group: "plugin", Req: get("/jwt/e", "Authorization", "Bearer "+jwtExpired), Compare: proxied, Expect: Expect{Status: 200}})
	add(Case{Name: "jwt/bad-signature", Group: "plugin", Req: get("/jwt", "Authorization", "Bearer "+jwtBadSig), Compare: full, Expect: Expect{Status: 401}})
	add(Case{Name: "jwt/unknown-issuer", Group: "plugin", Req: get("/jwt", "Authorization", "Bearer "+jwtUnknownIss), Compare: full, Expect: Expect{Status: 401}})
	add(Case{Name: "jwt/no-issuer-claim", Group: "plugin", Req: get("/jwt", "Authorization", "Bearer "+jwtNoIss), Compare: full, Expect: Expect{Status: 401}})
	add(Case{Name: "jwt/malformed", Group: "plugin", Req: get("/jwt", "Authorization", "Bearer not.a.jwt"), Compare: full, Expect: Expect{Status: 401}})

	// rate-limiting.
	add(Case{Name: "rate-limiting/headers", Group: "plugin", Req: get("/rl"), Compare: proxied, Expect: Expect{Status: 200}})
	add(Case{Name: "rate-limiting/exceeded", Group: "plugin", Req: get("/rl-tight"), Repeat: 2, Compare: full,
		Expect: Expect{Status: 429, BodyContains: []string{"API rate limit exceeded"}}})
	add(Case{Name: "rate-limiting/hide-client-headers", Group: "plugin", Req: get("/rl-hidden"), Compare: proxied, Expect: Expect{Status: 200}})
	// hide_client_headers hides Retry-After on the 429 too (handler.lua).
	add(Case{Name: "rate-limiting/exceeded-headers-hidden", Group: "plugin", Req: get("/rl-hidden-tight"), Repeat: 1, Compare: full,
		Expect: Expect{Status: 429, BodyContains: []string{"API rate limit exceeded"}}})

	// correlation-id.
	add(Case{Name: "correlation-id/generated-echoed", Group: "plugin", Req: get("/cid"), Compare: proxied, Expect: Expect{Status: 200}})
	add(Case{Name: "correlation-id/client-kept", Group: "plugin", Req: get("/cid", "Kong-Request-ID", "from-client"), Compare: proxied})
	add(Case{Name: "correlation-id/custom-header-uuid", Group: "plugin", Req: get("/cid-quiet"), Compare: proxied})

	// request-termination.
	add(Case{Name: "request-termination/message", Group: "plugin", Req: get("/term"), Compare: full,
		Expect: Expect{Status: 403, BodyContains: []string{"go away"}}})
	add(Case{Name: "request-termination/message-accept-html", Group: "plugin", Req: get("/term", "Accept", "text/html"), Compare: full, Expect: Expect{Status: 403}})
	add(Case{Name: "request-termination/body", Group: "plugin", Req: get("/term-body"), Compare: full,
		Expect: Expect{Status: 503, BodyContains: []string{`{"maintenance":true}`}}})
	add(Case{Name: "request-termination/default", Group: "plugin", Req: get("/term-default"), Compare: full, Expect: Expect{Status: 503}})

	// Retries and their timing.
	add(Case{Name: "retry/refused-get", Group: "retry", Req: get("/refused"), Compare: failures,
		Expect: Expect{Status: 502, BodyContains: []string{"An invalid response was received from the upstream server"}}})
	add(Case{Name: "retry/refused-post", Group: "retry", Req: with(get("/refused"), "POST", "x"), Compare: failures, Expect: Expect{Status: 502}})
	add(Case{Name: "retry/timeout-get", Group: "retry", Req: get("/hang"), Compare: Compare{Body: true, Headers: true, Tries: true, ErrorLog: true, Timing: true},
		Expect: Expect{Status: 504, MinElapsed: 600 * time.Millisecond}})
	add(Case{Name: "retry/timeout-post-not-retried", Group: "retry", Req: with(get("/hang"), "POST", "x"), Compare: Compare{Body: true, Headers: true, Tries: true, ErrorLog: true, Timing: true},
		Expect: Expect{Status: 504, MinElapsed: 300 * time.Millisecond}})
	add(Case{Name: "retry/timeout-put", Group: "retry", Req: with(get("/hang"), "PUT", "x"), Compare: Compare{Tries: true, Timing: true, ErrorLog: true},
		Expect: Expect{Status: 504, MinElapsed: 600 * time.Millisecond}})

	// Upstream health. Kong's balancer reports a failed try as a tcp
	// failure only when it moves on to a retry; the last try's failure is
	// reported as its HTTP status (502 is not in the passive unhealthy
	// list), so the service needs a retry for tcp_failures 1 to trip.
	add(Case{Name: "health/passive-first-failure", Group: "upstream", Req: get("/deadpool"), Compare: failures, Expect: Expect{Status: 502}})
	add(Case{Name: "health/passive-unhealthy-503", Group: "upstream", Req: get("/deadpool"), Compare: failures,
		Expect: Expect{Status: 503, BodyContains: []string{"failure to get a peer from the ring-balancer"}}})

	// Admin API.
	admin := func(name string, r Request, cmp Compare, e Expect) {
		add(Case{Name: "admin/" + name, Group: "admin", Admin: true, Req: r, Compare: cmp, Expect: e})
	}
	admin("root", get("/"), Compare{Body: true, JSONFields: []string{"version", "tagline", "lua_version", "configuration.database",
		"configuration.proxy_listen", "configuration.router_flavor", "configuration.headers", "configuration.error_default_type",
		"configuration.trusted_ips"}},
		Expect{Status: 200, BodyContains: []string{"Welcome to kong"}})
	admin("status", get("/status"), Compare{Body: true, JSONFields: []string{"database.reachable", "configuration_hash"}}, Expect{Status: 200})
	admin("services", get("/services"), adminAll, Expect{Status: 200})
	admin("service-by-name", get("/services/echo"), Compare{Body: true, Headers: true}, Expect{Status: 200})
	admin("service-missing", get("/services/nope"), Compare{Body: true, Headers: true}, Expect{Status: 404})
	admin("routes", get("/routes"), adminAll, Expect{Status: 200})
	admin("route-by-name", get("/routes/r-secure301"), adminAll, Expect{Status: 200})
	admin("service-routes", get("/services/slow/routes"), adminAll, Expect{Status: 200})
	admin("consumers", get("/consumers"), adminAll, Expect{Status: 200})
	admin("plugins", get("/plugins"), adminAll, Expect{Status: 200})
	admin("upstreams", get("/upstreams"), adminAll, Expect{Status: 200})
	admin("upstream-targets", get("/upstreams/pool/targets"), adminAll, Expect{Status: 200})
	admin("upstream-by-name", get("/upstreams/deadpool"), adminAll, Expect{Status: 200})
	admin("consumer-by-username", get("/consumers/alice"), adminAll, Expect{Status: 200})
	admin("upstream-health-off", get("/upstreams/pool/health"), adminAll, Expect{Status: 200, BodyContains: []string{"HEALTHCHECKS_OFF"}})
	admin("upstream-health-unhealthy", get("/upstreams/deadpool/health"), adminAll, Expect{Status: 200, BodyContains: []string{"UNHEALTHY"}})
	admin("upstream-health-empty", get("/upstreams/emptypool/health"), adminAll, Expect{Status: 200})
	admin("not-found", get("/nope"), Compare{Body: true, Headers: true}, Expect{Status: 404, BodyContains: []string{"Not found"}})
	// A body without a JSON/form type: 415 before any 405 (real Kong).
	admin("root-put-415", with(get("/"), "PUT", "x"), Compare{Body: true, Headers: true}, Expect{Status: 415})
	admin("root-put-json-405", with(get("/", "Content-Type", "application/json"), "PUT", "{}"), Compare{Body: true, Headers: true}, Expect{Status: 405})
	admin("service-delete-405", with(get("/services/echo"), "DELETE", ""), Compare{Body: true, Headers: true}, Expect{Status: 405})
	admin("services-post-405", with(get("/services", "Content-Type", "application/json"), "POST", `{"name":"x","url":"http://127.0.0.1:1"}`), Compare{Body: true, Headers: true}, Expect{Status: 405})
	admin("config-get", get("/config"), Compare{}, Expect{Status: 200})
	admin("config-post-empty", with(get("/config", "Content-Type", "application/json"), "POST", ""), Compare{Body: true}, Expect{Status: 400})
	admin("config-post-invalid", with(get("/config", "Content-Type", "application/json"), "POST",
		`{"_format_version":"3.0","services":[{"name":"bad","url":"http://127.0.0.1:1","retries":-1,"routes":[{"name":"r","paths":["no-slash"]}]}]}`),
		Compare{Body: true}, Expect{Status: 400})
	admin("config-post-versionless", with(get("/config", "Content-Type", "application/json"), "POST",
		`{"services":[{"name":"v","url":"http://127.0.0.1:1"}]}`), Compare{Body: true}, Expect{Status: 400})
	admin("config-post-not-yaml", with(get("/config", "Content-Type", "text/yaml"), "POST", "::: not yaml [\n"), Compare{Body: true}, Expect{Status: 400})
	// Two routes with one name (two teams' files merged): 400 with Kong's
	// field errors, the old config keeps serving (gateway/duplicate-route-rejected).
	admin("config-post-duplicate-route-name", with(get("/config", "Content-Type", "application/json"), "POST",
		`{"_format_version":"3.0","services":[{"name":"a","url":"http://127.0.0.1:1","routes":[{"name":"dup","paths":["/a"]}]},`+
			`{"name":"b","url":"http://127.0.0.1:1","routes":[{"name":"dup","paths":["/b"]}]}]}`),
		Compare{Body: true, Headers: true}, Expect{Status: 400})
	admin("config-post-duplicate-route-name-yaml", with(get("/config", "Content-Type", "text/yaml"), "POST",
		"_format_version: \"3.0\"\nservices:\n- name: a\n  url: http://127.0.0.1:1\n  routes:\n  - name: dup\n    paths: [/a]\n  - name: dup\n    paths: [/b]\n"),
		Compare{Body: true, Headers: true}, Expect{Status: 400})
	admin("config-post-duplicate-route-name-flatten", with(get("/config?flatten_errors=1", "Content-Type", "application/json"), "POST",
		`{"_format_version":"3.0","services":[{"name":"a","url":"http://127.0.0.1:1","routes":[{"name":"dup","paths":["/a"]},{"name":"dup","paths":["/b"]}]}]}`),
		Compare{Body: true, Headers: true}, Expect{Status: 400})
	admin("config-post-duplicate-service-name", with(get("/config", "Content-Type", "application/json"), "POST",
		`{"_format_version":"3.0","services":[{"name":"a","url":"http://127.0.0.1:1"},{"name":"a","url":"http://127.0.0.1:2"}]}`),
		Compare{Body: true, Headers: true}, Expect{Status: 400})
	add(Case{Name: "admin/config-post-duplicate-keeps-old", Group: "admin", Req: get("/echo"), Compare: proxied, Expect: Expect{Status: 200}})
	admin("config-post-valid", with(get("/config", "Content-Type", "application/json"), "POST",
		`{"_format_version":"3.0","services":[{"name":"after","url":"http://127.0.0.1:1","routes":[{"name":"r-after","paths":["/after"]}]}]}`),
		Compare{}, Expect{Status: 201})
	add(Case{Name: "admin/config-post-valid-applied", Group: "admin", Req: get("/echo"), Wait: 2 * time.Second, Compare: full, Expect: Expect{Status: 404}})
	return cs
}
