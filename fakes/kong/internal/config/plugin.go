package config

import "sort"

// pluginSchema is one supported plugin's Kong priority and config parser
// (reporting Kong-style field errors); its run-time part is in fakes/kong.
type pluginSchema struct {
	priority int
	parse    func(o *obj) any
}

// pluginSchemas are the plugins the emulation implements, one file each.
var pluginSchemas = map[string]pluginSchema{}

func registerPlugin(name string, priority int, parse func(o *obj) any) {
	pluginSchemas[name] = pluginSchema{priority: priority, parse: parse}
}

// PluginPriority is Kong's priority of a supported plugin (higher runs first).
func PluginPriority(name string) int { return pluginSchemas[name].priority }

// SupportedPlugins are the plugin names the emulation implements, sorted.
func SupportedPlugins() []string {
	out := make([]string, 0, len(pluginSchemas))
	for n := range pluginSchemas {
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
