package kong

import (
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/google/uuid"

	"github.com/chaoslab/chaoslab/fakes/kong/internal/config"
)

func init() {
	registerPlugin("correlation-id", func(c any) plugin {
		return &correlationID{c: c.(*config.CorrelationIDConfig), worker: uuid.NewString()}
	})
}

type correlationID struct {
	c       *config.CorrelationIDConfig
	worker  string
	counter atomic.Uint64
}

func (p *correlationID) access(c *reqCtx) bool {
	id := c.r.Header.Get(p.c.HeaderName)
	if id == "" {
		switch p.c.Generator {
		case "uuid":
			id = uuid.NewString()
		case "tracker":
			la, _ := c.r.Context().Value(http.LocalAddrContextKey).(interface{ String() string })
			addr := ""
			if la != nil {
				addr = la.String()
			}
			id = addr + "-" + strconv.FormatUint(c.connID, 10) + "-" + strconv.FormatInt(c.start.UnixMilli(), 10)
		default:
			id = p.worker + "#" + strconv.FormatUint(p.counter.Add(1), 10)
		}
		c.upstreamHeader().Set(p.c.HeaderName, id)
	}
	c.correlationID = id
	return false
}

func (p *correlationID) headerFilter(c *reqCtx, h http.Header) {
	if p.c.EchoDownstream && c.correlationID != "" {
		h.Set(p.c.HeaderName, c.correlationID)
	}
}
