package kong

import (
	"fmt"
	"net/http"

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
