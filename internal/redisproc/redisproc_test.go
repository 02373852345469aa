package redisproc

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/chaoslab/chaoslab/internal/loopback"
	"github.com/chaoslab/chaoslab/internal/resp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A real redis-server on loopback: the pool speaks to it, an error reply
// is an error but keeps the connection, and Close leaves nothing behind.
func TestRealRedis(t *testing.T) {
	if _, err := Binary(); err != nil {
		t.Skip(err.Error())
	}
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "redis")
	r, err := Start(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Version == "" {
		t.Errorf("no version read from INFO")
	}
	p := &resp.Pool{Addr: r.Addr, Timeout: time.Second, Control: loopback.Control, DB: 2}
	defer p.Close()
	const script = `local n = redis.call("incr", KEYS[1]) if n == 1 then redis.call("expire", KEYS[1], ARGV[1]) end return n - 1`
	for want := int64(0); want < 3; want++ {
		v, err := p.Do(ctx, "EVAL", script, "1", "k", "60")
		if err != nil || v != want {
			t.Fatalf("EVAL %d: got %v %v", want, v, err)
		}
	}
	if v, err := p.Do(ctx, "TTL", "k"); err != nil || v.(int64) <= 0 || v.(int64) > 60 {
		t.Fatalf("TTL: %v %v", v, err)
	}
	if _, err := p.Do(ctx, "NOSUCHCOMMAND"); err == nil {
		t.Fatal("an unknown command was not an error")
	} else if !errors.As(err, new(resp.Error)) {
		t.Fatalf("want a redis error reply, got %v", err)
	}
	// SELECT 2 was sent once for the pooled connection: the key is not in db 0.
	c, err := resp.Dial(ctx, r.Addr, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := c.Do("EXISTS", "k"); v != int64(0) {
		t.Fatalf("key in db 0: %v", v)
	}
	_ = c.Close()
	pid := r.Pid()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if syscall.Kill(pid, 0) == nil {
		t.Fatalf("redis-server %d still running after Close", pid)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("%s left behind: %v", dir, err)
	}
}
