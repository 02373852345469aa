package kong

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// RateLimitingConfig is rate-limiting's config; limits are per period and
// nil when unset. The emulation implements policy local only.
type RateLimitingConfig struct {
	Second            *float64 `json:"second"`
	Minute            *float64 `json:"minute"`
	Hour              *float64 `json:"hour"`
	Day               *float64 `json:"day"`
	Month             *float64 `json:"month"`
	Year              *float64 `json:"year"`
	LimitBy           string   `json:"limit_by"`
	HeaderName        string   `json:"header_name"`
	Path              string   `json:"path"`
	Policy            string   `json:"policy"`
	HideClientHeaders bool     `json:"hide_client_headers"`
	ErrorCode         int      `json:"error_code"`
	ErrorMessage      string   `json:"error_message"`
}

// ratePeriods are Kong's periods with their window length in seconds
// (EXPIRATION in the plugin), smallest first.
var ratePeriods = []struct {
	name   string
	window int64
}{{"second", 1}, {"minute", 60}, {"hour", 3600}, {"day", 86400}, {"month", 2592000}, {"year", 31536000}}

func init() {
	registerPlugin("rate-limiting", pluginDef{priority: 910, parse: parseRateLimiting, build: func(c any) plugin {
		return &rateLimiting{c: c.(*RateLimitingConfig), counters: map[string]*[6]rateWindow{}}
	}})
}

func parseRateLimiting(o *obj) any {
	c := &RateLimitingConfig{
		Second: o.numberPtr("second", 0), Minute: o.numberPtr("minute", 0), Hour: o.numberPtr("hour", 0),
		Day: o.numberPtr("day", 0), Month: o.numberPtr("month", 0), Year: o.numberPtr("year", 0),
		LimitBy:           o.strOneOf("limit_by", "consumer", "consumer", "credential", "ip", "service", "header", "path", "consumer-group"),
		HeaderName:        o.str("header_name", ""),
		Path:              o.str("path", ""),
		Policy:            o.strOneOf("policy", "local", "local", "cluster", "redis"),
		HideClientHeaders: o.boolean("hide_client_headers", false),
		ErrorCode:         o.integer("error_code", 429, 0, 999),
		ErrorMessage:      o.str("error_message", "API rate limit exceeded"),
	}
	o.boolean("fault_tolerant", true)
	o.number("sync_rate", -1, math.NaN(), math.NaN())
	o.skip("redis", "redis_host", "redis_port", "redis_password", "redis_username", "redis_ssl", "redis_ssl_verify",
		"redis_server_name", "redis_timeout", "redis_database")
	if c.Policy != "local" {
		o.fail("policy", o.vals["policy"], fmt.Sprintf("the emulation only supports policy local, got %q", c.Policy))
	}
	if c.LimitBy == "consumer-group" {
		o.fail("limit_by", o.vals["limit_by"], "the emulation does not support limit_by consumer-group")
	}
	if c.LimitBy == "header" && c.HeaderName == "" {
		o.fail("header_name", nil, "required field missing")
	}
	limits := c.limits()
	any := false
	var prev *float64
	prevName := ""
	for i, l := range limits {
		if l == nil {
			continue
		}
		any = true
		if prev != nil && *l < *prev {
			o.w.entityError(o.ent, fmt.Sprintf("The limit for %s(%s) cannot be lower than the limit for %s(%s)",
				ratePeriods[i].name, luaNum1(*l), prevName, luaNum1(*prev)), o.line())
		}
		prev, prevName = l, ratePeriods[i].name
	}
	if !any {
		o.w.entityError(o.ent, "at least one of these fields must be non-empty: 'config.second', 'config.minute', 'config.hour', 'config.day', 'config.month', 'config.year'", o.line())
	}
	return c
}

// luaNum1 prints a number the way Lua's %.1f does for the limit checks.
func luaNum1(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

func (c *RateLimitingConfig) limits() [6]*float64 {
	return [6]*float64{c.Second, c.Minute, c.Hour, c.Day, c.Month, c.Year}
}

type rateWindow struct {
	start int64 // period start, unix seconds (UTC-aligned like Kong's timestamps)
	count float64
}

type rateLimiting struct {
	c        *RateLimitingConfig
	mu       sync.Mutex
	counters map[string]*[6]rateWindow
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
	limits := p.c.limits()

	p.mu.Lock()
	w := p.counters[id]
	if w == nil {
		w = &[6]rateWindow{}
		p.counters[id] = w
	}
	stop := -1
	var remaining [6]float64
	var starts [6]int64
	for i, l := range limits {
		if l == nil {
			continue
		}
		starts[i] = periodStart(now, i)
		if w[i].start != starts[i] {
			w[i] = rateWindow{start: starts[i]}
		}
		remaining[i] = *l - w[i].count
		if remaining[i] <= 0 {
			stop = i
		}
	}
	if stop < 0 {
		// Kong counts only the requests it lets through.
		for i, l := range limits {
			if l != nil {
				w[i].count++
			}
		}
	}
	p.mu.Unlock()

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
			win := ratePeriods[i].window
			if limit < 0 || cur < rem || (cur == rem && win > window) {
				limit, rem, window = *l, cur, win
				reset = max(1, win-(nowMs-starts[i]*1000)/1000)
			}
			name := strings.ToUpper(ratePeriods[i].name[:1]) + ratePeriods[i].name[1:]
			h["X-RateLimit-Limit-"+name] = []string{luaInt(*l)}
			h["X-RateLimit-Remaining-"+name] = []string{luaInt(cur)}
		}
		h["RateLimit-Limit"] = []string{luaInt(limit)}
		h["RateLimit-Remaining"] = []string{luaInt(rem)}
		h["RateLimit-Reset"] = []string{strconv.FormatInt(reset, 10)}
	}
	if stop >= 0 {
		if h == nil {
			h = http.Header{}
		}
		if reset == 0 {
			reset = max(1, ratePeriods[stop].window-(nowMs-starts[stop]*1000)/1000)
		}
		h["Retry-After"] = []string{strconv.FormatInt(reset, 10)}
		c.kongError(p.c.ErrorCode, p.c.ErrorMessage, h)
		return true
	}
	rh := c.responseHeader()
	for k, v := range h {
		setExact(rh, k, v[0])
	}
	return false
}

// luaInt prints a limit like Kong's headers do: integers without ".0".
func luaInt(f float64) string {
	if f == math.Trunc(f) {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}
