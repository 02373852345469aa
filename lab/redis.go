package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/chaoslab/chaoslab/internal/redisproc"
	"github.com/chaoslab/chaoslab/internal/resp"
)

// ErrRedisNotInstalled is returned by Lab.Redis when Debian's redis-server
// is missing; scenarios skip with its text.
var ErrRedisNotInstalled = redisproc.ErrNotInstalled

// ErrRedisUnreachable is returned on the docker backend with bridge
// networking: the lab's Redis listens on the host's 127.0.0.1, which only
// containers on the host network reach.
var ErrRedisUnreachable = errors.New("the lab's Redis listens on the host's 127.0.0.1, which containers reach only with CHAOSLAB_DOCKER_NETWORK=host (the default)")

// Redis is a real Redis (Debian's redis-server) the lab runs for the
// gateways' shared state: the rate-limiting plugin's redis policy.
//
// It runs as a host process on 127.0.0.1 on every backend. On docker the
// gateway containers use host networking by default and reach it there; no
// Redis image can be pulled on the lab machines, and one built from the
// host's binary and its libraries would buy nothing a host process does not.
type Redis struct {
	r    *redisproc.Redis
	pool *resp.Pool
}

// IsRedisNotInstalled reports whether err means redis-server is missing.
func IsRedisNotInstalled(err error) bool { return errors.Is(err, ErrRedisNotInstalled) }

// Redis starts redis-server on a free 127.0.0.1 port (no persistence, its
// files under the lab's directory) and stops it when the lab closes.
func (l *Lab) Redis(ctx context.Context) (*Redis, error) {
	if err := l.checkOpen(); err != nil {
		return nil, err
	}
	if l.backend.Name() == "docker" && os.Getenv("CHAOSLAB_DOCKER_NETWORK") == "bridge" {
		return nil, ErrRedisUnreachable
	}
	r, err := redisproc.Start(ctx, filepath.Join(l.dir, fmt.Sprintf("redis-%d", time.Now().UnixNano())))
	if err != nil {
		return nil, err
	}
	h := &Redis{r: r, pool: &resp.Pool{Addr: r.Addr, Timeout: 5 * time.Second, MaxIdle: 2}}
	l.onClose("redis "+r.Addr, func() error { _ = h.pool.Close(); return r.Close() })
	l.Record("started", "redis", "redis-server "+r.Version+" on "+r.Addr)
	return h, nil
}

// Addr is host:port (127.0.0.1:PORT).
func (r *Redis) Addr() string { return r.r.Addr }

// Host and Port are what a kong.yml's redis record takes.
func (r *Redis) Host() string { h, _, _ := strings.Cut(r.r.Addr, ":"); return h }

func (r *Redis) Port() int {
	_, p, _ := strings.Cut(r.r.Addr, ":")
	n, _ := strconv.Atoi(p)
	return n
}

// Version is redis-server's version ("7.0.15").
func (r *Redis) Version() string { return r.r.Version }

// Pid is redis-server's pid (for the listener check).
func (r *Redis) Pid() int { return r.r.Pid() }

// Do runs one command (KEYS, GET, TTL, FLUSHALL...) and returns the reply.
func (r *Redis) Do(ctx context.Context, args ...string) (any, error) { return r.pool.Do(ctx, args...) }

// Counters returns every key matching pattern with its integer value.
func (r *Redis) Counters(ctx context.Context, pattern string) (map[string]int64, error) {
	v, err := r.Do(ctx, "KEYS", pattern)
	if err != nil {
		return nil, err
	}
	keys, _ := v.([]any)
	out := make(map[string]int64, len(keys))
	for _, k := range keys {
		ks, _ := k.(string)
		val, err := r.Do(ctx, "GET", ks)
		if err != nil {
			return nil, err
		}
		s, _ := val.(string)
		n, _ := strconv.ParseInt(s, 10, 64)
		out[ks] = n
	}
	return out, nil
}

// Monitor streams the commands Redis executes (MONITOR) until ctx ends or
// stop is called; lines are Redis's own: `1733000000.123456 [0 127.0.0.1:5555] "EVAL" ...`.
func (r *Redis) Monitor(ctx context.Context) (lines func() []string, stop func(), err error) {
	c, err := resp.Dial(ctx, r.r.Addr, 5*time.Second, nil)
	if err != nil {
		return nil, nil, err
	}
	if _, err := c.Do("MONITOR"); err != nil {
		_ = c.Close()
		return nil, nil, err
	}
	c.SetTimeout(0)
	var (
		got  = make(chan string, 4096)
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			v, err := c.Read()
			if err != nil {
				return
			}
			if s, ok := v.(string); ok {
				select {
				case got <- s:
				default: // bounded: a monitor never blocks the test
				}
			}
		}
	}()
	var collected []string
	drain := func() {
		for {
			select {
			case s := <-got:
				collected = append(collected, s)
			default:
				return
			}
		}
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		_ = c.Close()
		<-done
		drain()
	}
	lines = func() []string { drain(); return append([]string(nil), collected...) }
	go func() {
		select {
		case <-ctx.Done():
			_ = c.Close()
		case <-done:
		}
	}()
	return lines, stop, nil
}
