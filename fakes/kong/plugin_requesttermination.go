package kong

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

// terminationMessages are request-termination's DEFAULT_RESPONSE.
var terminationMessages = map[int]string{401: "Unauthorized", 404: "Not found", 405: "Method not allowed",
	500: "An unexpected error occurred", 502: "Bad Gateway", 503: "Service unavailable"}

func (p *requestTermination) access(c *reqCtx) bool {
	if p.c.Body != "" {
		ct := p.c.ContentType
		if ct == "" {
			ct = mimeJSON
		}
		c.kongAnswer(p.c.StatusCode, ct, []byte(p.c.Body), nil)
		return true
	}
	// kong.response.exit(status, { message = ... }): compact cjson, not
	// negotiated, no request id; without a message nginx's own page.
	msg := p.c.Message
	if msg == "" {
		msg = terminationMessages[p.c.StatusCode]
	}
	if msg == "" {
		c.nginxPage(p.c.StatusCode, nil)
		return true
	}
	c.kongExit(p.c.StatusCode, `{"message":`+cjsonString(msg)+`}`, nil)
	return true
}
