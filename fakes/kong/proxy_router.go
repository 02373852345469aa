package kong

import (
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/chaoslab/chaoslab/fakes/kong/internal/config"
)

// router matches requests to routes the way Kong's traditional_compatible
// router orders them: routes with more kinds of conditions first, exact
// hosts before wildcards, higher regex_priority, then longer paths.
type router struct {
	routes []*compiledRoute
}

type compiledRoute struct {
	r           *config.Route
	acceptsHTTP bool
	order       int
	categories  int
	exactHost   bool
	hasRegex    bool
	maxPathLen  int
	methods     map[string]bool
	hosts       []hostPattern
}

type hostPattern struct {
	exact  string // "api.example.com" or "api.example.com:8000"
	suffix string // "*.example.com" -> ".example.com"
	prefix string // "example.*" -> "example."
	port   bool   // pattern carries a port
}

// match is a matched route and what of the path matched (for strip_path).
type match struct {
	route       *config.Route
	acceptsHTTP bool
	matched     string // the path prefix (or regex match) that matched
}

func newRouter(routes []*config.Route) *router {
	rt := &router{}
	for i, r := range routes {
		if !r.Service.Enabled {
			continue // Kong ignores the routes of a disabled service
		}
		cr := &compiledRoute{r: r, order: i, acceptsHTTP: slices.Contains(r.Protocols, "http")}
		if len(r.Methods) > 0 {
			cr.categories++
			cr.methods = map[string]bool{}
			for _, m := range r.Methods {
				cr.methods[m] = true
			}
		}
		if len(r.Hosts) > 0 {
			cr.categories++
			cr.exactHost = true
			for _, h := range r.Hosts {
				hp := hostPattern{port: strings.Contains(strings.TrimPrefix(h, "*."), ":") && !strings.HasSuffix(h, ".*")}
				switch {
				case strings.HasPrefix(h, "*."):
					hp.suffix = strings.ToLower(h[1:])
					cr.exactHost = false
				case strings.HasSuffix(h, ".*"):
					hp.prefix = strings.ToLower(h[:len(h)-1])
					cr.exactHost = false
				default:
					hp.exact = strings.ToLower(h)
				}
				cr.hosts = append(cr.hosts, hp)
			}
		}
		if len(r.Headers) > 0 {
			cr.categories++
		}
		if len(r.Paths) > 0 {
			cr.categories++
			for i, p := range r.Paths {
				if r.PathRegex(i) != nil {
					cr.hasRegex = true
				}
				if len(p) > cr.maxPathLen {
					cr.maxPathLen = len(p)
				}
			}
		}
		rt.routes = append(rt.routes, cr)
	}
	sort.SliceStable(rt.routes, func(i, j int) bool {
		a, b := rt.routes[i], rt.routes[j]
		if a.categories != b.categories {
			return a.categories > b.categories
		}
		if a.exactHost != b.exactHost {
			return a.exactHost
		}
		if a.r.RegexPriority != b.r.RegexPriority {
			return a.r.RegexPriority > b.r.RegexPriority
		}
		if a.hasRegex != b.hasRegex {
			return a.hasRegex
		}
		if a.maxPathLen != b.maxPathLen {
			return a.maxPathLen > b.maxPathLen
		}
		return a.order < b.order
	})
	return rt
}

func (rt *router) match(req *http.Request) (match, bool) {
	path := req.URL.Path
	if path == "" {
		path = "/"
	}
	for _, cr := range rt.routes {
		if cr.methods != nil && !cr.methods[req.Method] {
			continue
		}
		if cr.hosts != nil && !cr.matchHost(req.Host) {
			continue
		}
		if !cr.matchHeaders(req.Header) {
			continue
		}
		if len(cr.r.Paths) == 0 {
			return match{route: cr.r, acceptsHTTP: cr.acceptsHTTP}, true
		}
		if m, ok := cr.matchPath(path); ok {
			return match{route: cr.r, acceptsHTTP: cr.acceptsHTTP, matched: m}, true
		}
	}
	return match{}, false
}

func (cr *compiledRoute) matchHost(hostport string) bool {
	hostport = strings.ToLower(hostport)
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	for _, hp := range cr.hosts {
		candidate := host
		if hp.port {
			candidate = hostport
		}
		switch {
		case hp.exact != "":
			if candidate == hp.exact {
				return true
			}
		case hp.suffix != "":
			if strings.HasSuffix(candidate, hp.suffix) && len(candidate) > len(hp.suffix) {
				return true
			}
		case hp.prefix != "":
			if strings.HasPrefix(candidate, hp.prefix) && len(candidate) > len(hp.prefix) {
				return true
			}
		}
	}
	return false
}

func (cr *compiledRoute) matchHeaders(h http.Header) bool {
	for name, want := range cr.r.Headers {
		got := h.Values(name)
		ok := false
		for _, g := range got {
			for _, w := range want {
				if strings.EqualFold(g, w) {
					ok = true
				}
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// matchPath returns the longest matching prefix, or a regex match.
func (cr *compiledRoute) matchPath(path string) (string, bool) {
	best, found := "", false
	for i, p := range cr.r.Paths {
		if re := cr.r.PathRegex(i); re != nil {
			if loc := re.FindStringIndex(path); loc != nil {
				if !found || loc[1] > len(best) {
					best, found = path[:loc[1]], true
				}
			}
			continue
		}
		if strings.HasPrefix(path, p) && (!found || len(p) > len(best)) {
			best, found = p, true
		}
	}
	return best, found
}

// upstreamPath is Kong's path_handling v0 join of the service path and
// the (optionally stripped) request path.
func upstreamPath(servicePath, reqPath, matched string, strip bool) string {
	rest := reqPath
	if strip && matched != "" {
		rest = reqPath[len(matched):]
	}
	if servicePath == "" {
		servicePath = "/"
	}
	if rest == "" {
		return servicePath
	}
	switch {
	case strings.HasSuffix(servicePath, "/") && strings.HasPrefix(rest, "/"):
		return servicePath + rest[1:]
	case servicePath == "/" && !strings.HasPrefix(rest, "/"):
		return "/" + rest
	default:
		return servicePath + rest
	}
}
