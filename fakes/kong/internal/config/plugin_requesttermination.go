package config

import (
	"fmt"
)

// RequestTerminationConfig is request-termination's config: Kong answers
// itself without calling the upstream (the "isolate the upstream" lesson).
type RequestTerminationConfig struct {
	StatusCode  int    `json:"status_code"`
	Message     string `json:"message"`
	Body        string `json:"body"`
	ContentType string `json:"content_type"`
}

func parseRequestTermination(o *obj) any {
	c := &RequestTerminationConfig{
		StatusCode:  o.integer("status_code", 503, 100, 599),
		Message:     o.str("message", ""),
		Body:        o.str("body", ""),
		ContentType: o.str("content_type", ""),
	}
	if c.Message != "" && (c.Body != "" || c.ContentType != "") {
		o.w.entityError(o.ent, "message cannot be used with content_type or body", 0)
	}
	if c.ContentType != "" && c.Body == "" {
		o.w.entityError(o.ent, "content_type requires a body", 0)
	}
	for _, k := range []string{"echo", "trigger"} {
		if o.has(k) {
			o.fail(k, o.vals[k], fmt.Sprintf("the emulation does not support request-termination's %s", k))
		}
	}
	return c
}

func init() { registerPlugin("request-termination", 2, parseRequestTermination) }
