package conformance

import (
	"encoding/json"
	"net/url"
	"regexp"
	"sort"
	"strings"
)

// Normaliser rewrites the values that differ between two correct gateways
// by nature: request ids, latencies, dates, the gateway's own ports, uuids
// of entities. Nothing else is touched.
type Normaliser struct {
	proxyHostPort, adminHostPort string
	proxyPort, adminPort         string
}

// NewNormaliser knows the gateway's proxy and admin addresses.
func NewNormaliser(t Target) *Normaliser {
	n := &Normaliser{}
	if u, err := url.Parse(t.ProxyURL()); err == nil {
		n.proxyHostPort, n.proxyPort = u.Host, u.Port()
	}
	if u, err := url.Parse(t.AdminURL()); err == nil {
		n.adminHostPort, n.adminPort = u.Host, u.Port()
	}
	return n
}

var (
	uuidRe      = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	requestIDRe = regexp.MustCompile(`\b[0-9a-f]{32}\b`)
	// nginx error.log prefix: 2026/12/01 17:00:00 [error] 123#0: *45
	logPrefixRe = regexp.MustCompile(`^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d (\[[a-z]+\]) \d+#\d+: (\*\d+ )?`)
)

// timeHeaders are dates and latencies: their values are normalised.
var timeHeaders = map[string]bool{
	"Date": true, "X-Kong-Upstream-Latency": true, "X-Kong-Proxy-Latency": true,
	"X-Kong-Response-Latency": true, "X-Kong-Admin-Latency": true,
	"Ratelimit-Reset": true, "Retry-After": true,
}

// String normalises free text (bodies, header values, log lines).
func (n *Normaliser) String(s string) string {
	if n.proxyHostPort != "" {
		s = strings.ReplaceAll(s, n.proxyHostPort, "<proxy>")
	}
	if n.adminHostPort != "" {
		s = strings.ReplaceAll(s, n.adminHostPort, "<admin>")
	}
	s = uuidRe.ReplaceAllString(s, "<uuid>")
	s = requestIDRe.ReplaceAllString(s, "<request-id>")
	return s
}

// Headers normalises a header map (response or upstream-received).
func (n *Normaliser) Headers(h map[string]string) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		switch {
		case timeHeaders[k]:
			v = "<" + strings.ToLower(k) + ">"
		case k == "X-Forwarded-Port" && v == n.proxyPort:
			v = "<proxy-port>"
		default:
			v = n.String(v)
		}
		out[k] = v
	}
	return out
}

// Log normalises error-log lines: no timestamp, pid or connection number.
func (n *Normaliser) Log(lines []string) []string {
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		out = append(out, n.String(logPrefixRe.ReplaceAllString(l, "$1 ")))
	}
	sort.Strings(out)
	return out
}

// adminVolatile are Admin API keys whose values are per node or per start.
var adminVolatile = map[string]bool{"created_at": true, "updated_at": true, "hostname": true,
	"node_id": true, "pids": true, "timers": true, "memory": true, "connections_accepted": true,
	"connections_handled": true, "connections_active": true, "connections_reading": true,
	"connections_writing": true, "connections_waiting": true, "total_requests": true,
	"config_hash": true}

// JSON parses a body and normalises its values; nil when it is not JSON.
func (n *Normaliser) JSON(body string) any {
	var v any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		return nil
	}
	return n.jsonValue("", v)
}

func (n *Normaliser) jsonValue(key string, v any) any {
	if adminVolatile[key] && v != nil {
		return "<" + key + ">"
	}
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = n.jsonValue(k, e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = n.jsonValue(key, e)
		}
		if key == "data" {
			sortEntities(x)
		}
		return x
	case string:
		return n.String(x)
	}
	return v
}

// sortEntities orders an Admin API list ("data") by entity name: DB-less
// Kong pages entities in its LMDB key order, which follows random uuids.
func sortEntities(list []any) {
	key := func(v any) string {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		b, _ := json.Marshal(m) // ties (two key-auth plugins): by content
		for _, k := range []string{"name", "username", "target"} {
			if s, ok := m[k].(string); ok {
				return s + "\x00" + string(b)
			}
		}
		return string(b)
	}
	sort.SliceStable(list, func(i, j int) bool { return key(list[i]) < key(list[j]) })
}

// Field returns the value at a dotted path ("configuration.database") or
// "<absent>".
func Field(v any, path string) any {
	for _, p := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return "<absent>"
		}
		if v, ok = m[p]; !ok {
			return "<absent>"
		}
	}
	return v
}
