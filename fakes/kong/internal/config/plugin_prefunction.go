package config

import (
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// PreFunctionConfig is the part of pre-function the emulation runs: the
// access phase, and only ngx.sleep(<seconds>) statements. That is how
// scenarios put latency inside the gateway on real Kong and here alike.
type PreFunctionConfig struct {
	Access []string      `json:"access"`
	Sleep  time.Duration `json:"-"` // the sum of every ngx.sleep in Access
}

var (
	sleepChunkRe = regexp.MustCompile(`^\s*(?:ngx\.sleep\(\s*[0-9]*\.?[0-9]+\s*\)\s*;?\s*)+$`)
	sleepStmtRe  = regexp.MustCompile(`ngx\.sleep\(\s*([0-9]*\.?[0-9]+)\s*\)`)
)

func parsePreFunction(o *obj) any {
	c := &PreFunctionConfig{}
	items, _ := o.seq("access", "an array")
	for i, it := range items {
		s, ok := scalarString(it)
		if !ok {
			o.failAt(extend(o.path, "access", i), it, "expected a string")
			continue
		}
		if !sleepChunkRe.MatchString(s) {
			o.failAt(extend(o.path, "access", i), it, fmt.Sprintf("the emulation only supports ngx.sleep(<seconds>) statements in pre-function, got %q", s))
			continue
		}
		for _, m := range sleepStmtRe.FindAllStringSubmatch(s, -1) {
			f, _ := strconv.ParseFloat(m[1], 64)
			c.Sleep += time.Duration(f * float64(time.Second))
		}
		c.Access = append(c.Access, s)
	}
	for _, phase := range []string{"certificate", "rewrite", "header_filter", "body_filter", "log",
		"ws_handshake", "ws_client_frame", "ws_upstream_frame", "ws_close", "functions"} {
		if items, ok := o.seq(phase, "an array"); ok && len(items) > 0 {
			o.fail(phase, o.vals[phase], "the emulation only supports the access phase of pre-function (ngx.sleep statements)")
		}
	}
	return c
}

func init() { registerPlugin("pre-function", 1000000, parsePreFunction) }
