package kong

import (
	"context"
	"errors"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/chaoslab/chaoslab/fakes/kong/internal/config"
)

func init() {
	registerPlugin("rate-limiting", func(c any) plugin {
		return &rateLimiting{c: c.(*config.RateLimitingConfig), counters: map[string]*[6]rateWindow{}}
	})
}

type rateWindow struct {
	start int64 // period start, unix seconds (UTC-aligned like Kong's timestamps)
	count float64
}

type rateLimiting struct {
	c                  *config.RateLimitingConfig
	routeID, serviceID string // the plugin's scope, for the redis keys
	mu                 sync.Mutex
	counters           map[string]*[6]rateWindow
}

// periodStart aligns t to the start of the period in UTC, as Kong's
// timestamp.get_timestamps does.
func periodStart(t time.Time, period int) int64 {
	u := t.UTC()
	switch period {
	case 0:
		return u.Unix()
	case 1:
		return u.Truncate(time.Minute).Unix()
	case 2:
		return u.Truncate(time.Hour).Unix()
	case 3:
		return time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, time.UTC).Unix()
	case 4:
		return time.Date(u.Year(), u.Month(), 1, 0, 0, 0, 0, time.UTC).Unix()
	default:
		return time.Date(u.Year(), 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	}
}

func (p *rateLimiting) identifier(c *reqCtx) string {
	switch p.c.LimitBy {
	case "consumer":
		if c.consumer != nil {
			return c.consumer.ID
		}
		if c.credentialID != "" {
			return c.credentialID
		}
	case "credential":
		if c.credentialID != "" {
			return c.credentialID
		}
	case "service":
		return c.route.Service.ID
	case "header":
		if v := c.r.Header.Get(p.c.HeaderName); v != "" {
			return v
		}
	case "path":
		if p.c.Path != "" && c.r.URL.Path == p.c.Path {
			return p.c.Path
		}
	}
	return clientIP(c.r)
}

func (p *rateLimiting) access(c *reqCtx) bool {
	now := time.Now()
	nowMs := now.UnixMilli()
	id := p.identifier(c)
	limits := p.c.Limits()

	var usage [6]float64
	var starts [6]int64
	if p.c.Policy == "redis" {
		var err error
		if usage, starts, err = p.redisUsage(c, id, now); err != nil {
			msg := redisErrText(err)
			if !p.c.FaultTolerant {
				c.g.errLog.log("error", c.info(""), "[kong] handler.lua:146 "+msg)
				c.kongError(http.StatusInternalServerError, "An unexpected error occurred", nil)
				return true
			}
			// fault_tolerant: proxy without limiting (and without headers).
			c.g.errLog.log("error", c.info(""), "[kong] handler.lua:149 [rate-limiting] failed to get usage: "+msg)
			return false
		}
	} else {
		usage, starts = p.localUsage(id, now, limits)
	}
	stop := -1
	var remaining [6]float64
	for i, l := range limits {
		if l == nil {
			continue
		}
		remaining[i] = *l - usage[i]
		if remaining[i] <= 0 {
			stop = i
		}
	}

	var h http.Header
	var reset int64
	if !p.c.HideClientHeaders {
		h = http.Header{}
		limit, rem, window := -1.0, 0.0, int64(0)
		for i, l := range limits {
			if l == nil {
				continue
			}
			cur := remaining[i]
			if stop < 0 || stop == i {
				cur--
			}
			cur = math.Max(0, cur)
			win := config.RatePeriods[i].Window
			if limit < 0 || cur < rem || (cur == rem && win > window) {
				limit, rem, window = *l, cur, win
				reset = max(1, win-(nowMs-starts[i]*1000)/1000)
			}
			name := strings.ToUpper(config.RatePeriods[i].Name[:1]) + config.RatePeriods[i].Name[1:]
			h["X-RateLimit-Limit-"+name] = []string{luaInt(*l)}
			h["X-RateLimit-Remaining-"+name] = []string{luaInt(cur)}
		}
		h["RateLimit-Limit"] = []string{luaInt(limit)}
		h["RateLimit-Remaining"] = []string{luaInt(rem)}
		h["RateLimit-Reset"] = []string{strconv.FormatInt(reset, 10)}
	}
	if stop >= 0 {
		// Retry-After is a client header too: hidden with the others
		// (rate-limiting/handler.lua sets it only without hide_client_headers).
		if h != nil {
			h["Retry-After"] = []string{strconv.FormatInt(reset, 10)}
		}
		c.kongError(p.c.ErrorCode, p.c.ErrorMessage, h)
		return true
	}
	rh := c.responseHeader()
	for k, v := range h {
		setExact(rh, k, v[0])
	}
	return false
}

// localUsage is policy local: counters in this process, per identifier and
// window; Kong counts only the requests it lets through.
func (p *rateLimiting) localUsage(id string, now time.Time, limits [6]*float64) (usage [6]float64, starts [6]int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := p.counters[id]
	if w == nil {
		w = &[6]rateWindow{}
		p.counters[id] = w
	}
	stopped := false
	for i, l := range limits {
		if l == nil {
			continue
		}
		starts[i] = periodStart(now, i)
		if w[i].start != starts[i] {
			w[i] = rateWindow{start: starts[i]}
		}
		usage[i] = w[i].count
		if *l-usage[i] <= 0 {
			stopped = true
		}
	}
	if !stopped {
		for i, l := range limits {
			if l != nil {
				w[i].count++
			}
		}
	}
	return usage, starts
}

// redisErrText is how lua-resty-redis words a failure in Kong's log.
func redisErrText(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return err.Error()
}

// luaInt prints a limit like Kong's headers do: integers without ".0".
func luaInt(f float64) string {
	if f == math.Trunc(f) {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}
