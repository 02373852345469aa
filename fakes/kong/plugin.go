package kong

import (
	"net/http"
)

// plugin is one configured plugin instance at run time. access runs in
// Kong's access phase in priority order; it returns true when it answered
// the request itself (a 401, a 429...), which ends the chain.
type plugin interface {
	access(c *reqCtx) (answered bool)
}

// headerFilter is implemented by plugins that touch the response headers
// (Kong's header_filter phase), on proxied and short-circuited responses.
type headerFilter interface {
	headerFilter(c *reqCtx, h http.Header)
}

// builders are the plugins the emulation runs, one file each; their config
// schema (priority, defaults, Kong-style field errors) is in internal/config.
var builders = map[string]func(cfg any) plugin{}

func registerPlugin(name string, build func(cfg any) plugin) { builders[name] = build }
