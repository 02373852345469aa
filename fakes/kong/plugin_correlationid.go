package kong

import (
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/google/uuid"
)

// CorrelationIDConfig is correlation-id's config (Kong 3.9 defaults).
type CorrelationIDConfig struct {
	HeaderName     string `json:"header_name"`
	Generator      string `json:"generator"` // uuid, uuid#counter, tracker
	EchoDownstream bool   `json:"echo_downstream"`
}

func init() {
	registerPlugin("correlation-id", pluginDef{priority: 100001, parse: parseCorrelationID, build: func(c any) plugin {
		return &correlationID{c: c.(*CorrelationIDConfig), worker: uuid.NewString()}
	}})
}

func parseCorrelationID(o *obj) any {
	return &CorrelationIDConfig{
		HeaderName:     o.str("header_name", "Kong-Request-ID"),
		Generator:      o.strOneOf("generator", "uuid#counter", "uuid", "uuid#counter", "tracker"),
		EchoDownstream: o.boolean("echo_downstream", false),
	}
}

type correlationID struct {
	c       *CorrelationIDConfig
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
