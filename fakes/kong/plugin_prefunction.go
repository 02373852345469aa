package kong

import (
	"time"

	"github.com/chaoslab/chaoslab/fakes/kong/internal/config"
)

func init() {
	registerPlugin("pre-function", func(c any) plugin { return &preFunction{c.(*config.PreFunctionConfig)} })
}

type preFunction struct{ c *config.PreFunctionConfig }

func (p *preFunction) access(c *reqCtx) bool {
	if p.c.Sleep <= 0 {
		return false
	}
	t := time.NewTimer(p.c.Sleep)
	defer t.Stop()
	select {
	case <-t.C:
		return false
	case <-c.r.Context().Done():
		c.status = 499
		return true
	}
}
