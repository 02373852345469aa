package kong

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chaoslab/chaoslab/fakes/kong/internal/config"
	"github.com/chaoslab/chaoslab/internal/loopback"
	"github.com/chaoslab/chaoslab/internal/resp"
)

// The rate-limiting plugin's redis policy, as Kong 3.9.1 runs it with
// sync_rate -1 (the default): for every configured period, every request
// runs one EVAL on the shared Redis that increments the period's counter,
// sets its expiry when it was created, and returns the count before this
// request. So every node of a cluster counts against the same key, and a
// refused request is counted too. The keys are Kong's:
//
//	ratelimit:<route id>:<service id>:<identifier>:<period start, ms>:<period>
//
// with the plugin's own route and service (the nil UUID when it is not
// scoped to one), and the connection is opened the way lua-resty-redis
// opens it (AUTH and SELECT only when configured; package resp).

// emptyUUID stands for "not scoped to a route/service" in the keys.
const emptyUUID = "00000000-0000-0000-0000-000000000000"

// usageScript increments a period's counter and returns its value before
// this request; the counter expires one window after it was created.
const usageScript = `local n = redis.call("incr", KEYS[1])
if n == 1 then redis.call("expire", KEYS[1], ARGV[1]) end
return n - 1`

// scoped is implemented by plugin instances that need to know which route
// and service their plugin entity is attached to.
type scoped interface{ setScope(p *config.Plugin) }

func (p *rateLimiting) setScope(pl *config.Plugin) {
	p.routeID, p.serviceID = emptyUUID, emptyUUID
	if pl.Route != nil {
		p.routeID = pl.Route.ID
	}
	if pl.Service != nil {
		p.serviceID = pl.Service.ID
	}
}

// redisKey is Kong's counter key for one identifier, period and window.
func (p *rateLimiting) redisKey(id string, period int, start int64) string {
	return fmt.Sprintf("ratelimit:%s:%s:%s:%d:%s", p.routeID, p.serviceID, id, start*1000, config.RatePeriods[period].Name)
}

// redisUsage asks Redis for the usage of every configured period (counting
// this request), as the policy's usage() does.
func (p *rateLimiting) redisUsage(c *reqCtx, id string, now time.Time) (usage [6]float64, starts [6]int64, err error) {
	pool := c.g.redisPools.get(p.c.Redis, c.g.opts.AllowNonLoopback)
	for i, l := range p.c.Limits() {
		if l == nil {
			continue
		}
		starts[i] = periodStart(now, i)
		ctx, cancel := context.WithTimeout(c.r.Context(), time.Duration(max(p.c.Redis.Timeout, 1))*time.Millisecond)
		// Lower case, as lua-resty-redis names it (red:eval).
		v, err := pool.Do(ctx, "eval", usageScript, "1", p.redisKey(id, i, starts[i]),
			strconv.FormatInt(config.RatePeriods[i].Window, 10))
		cancel()
		if err != nil {
			return usage, starts, err
		}
		n, ok := v.(int64)
		if !ok {
			return usage, starts, fmt.Errorf("unexpected reply %v", v)
		}
		usage[i] = float64(n)
	}
	return usage, starts, nil
}

// redisPools holds one keep-alive pool per Redis (host:port;database), for
// the gateway's life across reloads, as Kong's cosocket pools outlive a
// configuration.
type redisPools struct {
	mu    sync.Mutex
	pools map[string]*resp.Pool
}

func (r *redisPools) get(c *config.RedisConfig, allowNonLoopback bool) *resp.Pool {
	key := fmt.Sprintf("%s:%d;%d;%s", c.Host, c.Port, c.Database, c.Username)
	r.mu.Lock()
	defer r.mu.Unlock()
	if p := r.pools[key]; p != nil && p.Password == c.Password {
		return p
	}
	p := &resp.Pool{Addr: net.JoinHostPort(strings.Trim(c.Host, "[]"), strconv.Itoa(c.Port)),
		Timeout: time.Duration(c.Timeout) * time.Millisecond, Username: c.Username, Password: c.Password, DB: c.Database}
	if !allowNonLoopback {
		p.Control = loopback.Control
	}
	if r.pools == nil {
		r.pools = map[string]*resp.Pool{}
	}
	if old := r.pools[key]; old != nil {
		_ = old.Close()
	}
	r.pools[key] = p
	return p
}

func (r *redisPools) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.pools {
		_ = p.Close()
	}
	r.pools = nil
}
