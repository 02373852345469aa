package kong

import (
	"fmt"
	"net/http"
)

// RequestTerminationConfig is request-termination's config: Kong answers
// itself without calling the upstream (the "isolate the upstream" lesson).
type RequestTerminationConfig struct {
	StatusCode  int    `json:"status_code"`
	Message     string `json:"message"`
	Body        string `json:"body"`
	ContentType string `json:"content_type"`
}

func init() {
	registerPlugin("request-termination", pluginDef{priority: 2, parse: parseRequestTermination, build: func(c any) plugin {
		return &requestTermination{c.(*RequestTerminationConfig)}
	}})
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

type requestTermination struct{ c *RequestTerminationConfig }

// pdkMessages are kong.response.error's default messages.
var pdkMessages = map[int]string{
	400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
	408: "Request timeout", 409: "Conflict", 413: "Payload too large", 429: "Too many requests",
	500: "An unexpected error occurred", 502: "An invalid response was received from the upstream server",
	503: "The upstream server is currently unavailable", 504: "The upstream server is timing out",
}

func (p *requestTermination) access(c *reqCtx) bool {
	if p.c.Body != "" {
		ct := p.c.ContentType
		if ct == "" {
			ct = mimeJSON
		}
		c.kongAnswer(p.c.StatusCode, ct, []byte(p.c.Body), nil)
		return true
	}
	msg := p.c.Message
	if msg == "" {
		msg = pdkMessages[p.c.StatusCode]
		if msg == "" {
			msg = fmt.Sprintf("The upstream server responded with %d", p.c.StatusCode)
		}
	}
	c.kongError(p.c.StatusCode, msg, http.Header{})
	return true
}
