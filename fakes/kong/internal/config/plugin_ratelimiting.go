package config

import (
	"fmt"
	"math"
	"strconv"
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

// RatePeriods are Kong's periods with their window length in seconds
// (EXPIRATION in the plugin), smallest first.
var RatePeriods = []struct {
	Name   string
	Window int64
}{{"second", 1}, {"minute", 60}, {"hour", 3600}, {"day", 86400}, {"month", 2592000}, {"year", 31536000}}

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
	limits := c.Limits()
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
				RatePeriods[i].Name, luaNum1(*l), prevName, luaNum1(*prev)), o.line())
		}
		prev, prevName = l, RatePeriods[i].Name
	}
	if !any {
		o.w.entityError(o.ent, "at least one of these fields must be non-empty: 'config.second', 'config.minute', 'config.hour', 'config.day', 'config.month', 'config.year'", o.line())
	}
	return c
}

// luaNum1 prints a number the way Lua's %.1f does for the limit checks.
func luaNum1(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

// Limits are the configured limits in RatePeriods order, nil when unset.
func (c *RateLimitingConfig) Limits() [6]*float64 {
	return [6]*float64{c.Second, c.Minute, c.Hour, c.Day, c.Month, c.Year}
}

func init() { registerPlugin("rate-limiting", 910, parseRateLimiting) }
