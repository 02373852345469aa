package lab

import (
	"context"
	"os"
	"syscall"
	"testing"
)

// The lab's Redis answers on loopback, two gateways of one lab get their
// own directories, and Close stops redis-server and removes its files.
func TestRedisAndTwoGatewaysCloseWithTheLab(t *testing.T) {
	ctx := context.Background()
	l, err := New(ctx, WithDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r, err := l.Redis(ctx)
	if IsRedisNotInstalled(err) {
		t.Skip(err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	if r.Host() != "127.0.0.1" || r.Port() == 0 || r.Version() == "" {
		t.Fatalf("redis %s version %q", r.Addr(), r.Version())
	}
	if v, err := r.Do(ctx, "SET", "ratelimit:x", "3"); err != nil || v != "OK" {
		t.Fatalf("SET: %v %v", v, err)
	}
	if c, err := r.Counters(ctx, "ratelimit:*"); err != nil || c["ratelimit:x"] != 3 {
		t.Fatalf("counters %v %v", c, err)
	}
	const y = "_format_version: \"3.0\"\n"
	for i := 0; i < 2; i++ {
		if _, err := l.Gateway(ctx, y, WithGateway("emulation")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(l.Dir() + "/gateway-2/kong.yml"); err != nil {
		t.Fatalf("the second gateway's own directory: %v", err)
	}
	pid := r.Pid()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if syscall.Kill(pid, 0) == nil {
		t.Fatalf("redis-server %d outlived the lab", pid)
	}
	if _, err := os.Stat(l.Dir()); !os.IsNotExist(err) {
		t.Fatalf("lab directory left: %v", err)
	}
}
