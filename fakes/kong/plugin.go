package kong

import (
	"net/http"
	"sort"
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

// pluginDef is one supported plugin: Kong's priority, its config parser
// (reporting Kong-style field errors) and its constructor.
type pluginDef struct {
	priority int
	parse    func(o *obj) any
	build    func(cfg any) plugin
}

// pluginDefs are the plugins the emulation implements, one file each.
var pluginDefs = map[string]pluginDef{}

func registerPlugin(name string, d pluginDef) { pluginDefs[name] = d }

func supportedPluginNames() []string {
	out := make([]string, 0, len(pluginDefs))
	for n := range pluginDefs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// bundledPlugins are Kong 3.9's bundled plugins: naming one the emulation
// lacks gets a clear "not supported" instead of Kong's "not enabled".
var bundledPlugins = map[string]bool{}

func init() {
	for _, n := range []string{
		"acl", "acme", "ai-azure-content-safety", "ai-prompt-decorator", "ai-prompt-guard", "ai-prompt-template",
		"ai-proxy", "ai-request-transformer", "ai-response-transformer", "aws-lambda", "azure-functions",
		"basic-auth", "bot-detection", "correlation-id", "cors", "datadog", "file-log", "grpc-gateway",
		"grpc-web", "hmac-auth", "http-log", "ip-restriction", "jwt", "key-auth", "ldap-auth", "loggly",
		"oauth2", "opentelemetry", "post-function", "pre-function", "prometheus", "proxy-cache",
		"rate-limiting", "redirect", "request-size-limiting", "request-termination", "request-transformer",
		"response-ratelimiting", "response-transformer", "session", "standard-webhooks", "statsd", "syslog",
		"tcp-log", "udp-log", "zipkin",
	} {
		bundledPlugins[n] = true
	}
}
