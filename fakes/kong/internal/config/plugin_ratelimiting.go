package config

import (
	"fmt"
	"math"
	"strconv"
)

// RateLimitingConfig is rate-limiting's config; limits are per period and
// nil when unset. The emulation implements policies local and redis (with
// sync_rate -1, Kong's default: every request asks Redis).
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
	FaultTolerant     bool     `json:"fault_tolerant"`
	// Redis is set for policy redis (the redis record, or the deprecated
	// redis_* shorthands).
	Redis *RedisConfig `json:"redis,omitempty"`
}

// RedisConfig is Kong's shared redis record (kong/tools/redis/schema).
type RedisConfig struct {
	Host       string `json:"host"`
	Port       int    `json:"port"`
	Timeout    int    `json:"timeout"` // ms
	Username   string `json:"username"`
	Password   string `json:"password"`
	Database   int    `json:"database"`
	SSL        bool   `json:"ssl"`
	SSLVerify  bool   `json:"ssl_verify"`
	ServerName string `json:"server_name"`
}

// parseRedis reads config.redis and lets the deprecated redis_* shorthand
// fields override it, as Kong's shorthand_fields do.
func parseRedis(o *obj) *RedisConfig {
	r := o.record("redis")
	c := &RedisConfig{
		Host: r.str("host", ""), Port: r.integer("port", 6379, 0, 65535), Timeout: r.integer("timeout", 2000, 0, maxTimeout),
		Username: r.str("username", ""), Password: r.str("password", ""), Database: r.integer("database", 0, math.MinInt32, math.MaxInt32),
		SSL: r.boolean("ssl", false), SSLVerify: r.boolean("ssl_verify", false), ServerName: r.str("server_name", ""),
	}
	r.finish()
	if o.has("redis_host") {
		c.Host = o.str("redis_host", "")
	}
	if o.has("redis_port") {
		c.Port = o.integer("redis_port", 6379, 0, 65535)
	}
	if o.has("redis_timeout") {
		c.Timeout = o.integer("redis_timeout", 2000, 0, maxTimeout)
	}
	if o.has("redis_username") {
		c.Username = o.str("redis_username", "")
	}
	if o.has("redis_password") {
		c.Password = o.str("redis_password", "")
	}
	if o.has("redis_database") {
		c.Database = o.integer("redis_database", 0, math.MinInt32, math.MaxInt32)
	}
	if o.has("redis_ssl") {
		c.SSL = o.boolean("redis_ssl", false)
	}
	if o.has("redis_ssl_verify") {
		c.SSLVerify = o.boolean("redis_ssl_verify", false)
	}
	if o.has("redis_server_name") {
		c.ServerName = o.str("redis_server_name", "")
	}
	o.skip("redis_host", "redis_port", "redis_password", "redis_username", "redis_ssl", "redis_ssl_verify",
		"redis_server_name", "redis_timeout", "redis_database")
	return c
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
	c.FaultTolerant = o.boolean("fault_tolerant", true)
	syncRate := o.number("sync_rate", -1, math.NaN(), math.NaN())
	redis := parseRedis(o)
	switch c.Policy {
	case "redis":
		c.Redis = redis
		if redis.Host == "" {
			o.w.entityError(o.ent, "failed conditional validation given value of field 'config.policy'", o.line())
			o.failAt(extend(o.path, "redis", "host"), nil, "required field missing")
		}
		if syncRate != -1 {
			o.fail("sync_rate", o.vals["sync_rate"], "the emulation only supports sync_rate -1 (every request asks Redis)")
		}
		if redis.SSL {
			o.fail("redis", o.vals["redis"], "the emulation does not support redis.ssl")
		}
	case "local":
	default:
		o.fail("policy", o.vals["policy"], fmt.Sprintf("the emulation supports policies local and redis, got %q", c.Policy))
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
