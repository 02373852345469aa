package kong

import (
	"github.com/chaoslab/chaoslab/fakes/kong/internal/config"
)

func init() {
	registerPlugin("request-termination", func(c any) plugin {
		return &requestTermination{c.(*config.RequestTerminationConfig)}
	})
}

type requestTermination struct {
	c *config.RequestTerminationConfig
}

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
