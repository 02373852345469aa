package lab

import (
	"context"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chaoslab/chaoslab/fakes/upstream"
)

// GATEWAY=kong on the embedded backend: the same Gateway handle on real
// Kong, its kind in the record, nothing left after Close.
func TestGatewayKongHostProcess(t *testing.T) {
	t.Setenv(EnvGateway, "kong")
	ctx := context.Background()
	l, err := New(ctx, WithDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if !l.Backend().Has(CapRealKong) || l.Backend().Has(CapGatewayEmulation) {
		t.Errorf("embedded with GATEWAY=kong must offer real-kong, not the emulation")
	}
	up, err := l.Upstream(ctx, "orders", upstream.Config{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := l.Gateway(ctx, "_format_version: \"3.0\"\nservices:\n- name: orders\n  url: http://orders.lab:"+
		strings.Split(up.Addr(), ":")[1]+"\n  routes:\n  - paths: [/orders]\n", WithHosts(map[string]string{"orders.lab": "127.0.0.1"}))
	if IsRealKongNotBuilt(err) {
		t.Skip(ErrRealKongNotBuilt.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	if g.Kind() != "kong 3.9.1 (host process)" {
		t.Errorf("kind %q", g.Kind())
	}
	resp, err := http.Get(g.ProxyURL() + "/orders")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Via") != "1.1 kong/3.9.1" {
		t.Errorf("through real Kong: %d Via %q", resp.StatusCode, resp.Header.Get("Via"))
	}
	if err := g.Reload(ctx, "_format_version: \"3.0\"\n"); err != nil {
		t.Fatal(err)
	}
	// POST /config answers 201 before the worker has rebuilt its router
	// (an event handled asynchronously): the old routes may answer for a
	// moment. Bounded wait for the new config to take effect.
	reloaded := time.Now()
	for code := 0; code != 404; {
		if time.Since(reloaded) > 5*time.Second {
			t.Fatalf("5 s after reloading an empty config /orders still answers %d, want 404", code)
		}
		if resp, err := http.Get(g.ProxyURL() + "/orders"); err == nil {
			code = resp.StatusCode
			resp.Body.Close()
		}
	}
	t.Logf("new config effective %v after POST /config returned", time.Since(reloaded))
	pid := g.svc.(*hostKong).k.Pid()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if syscall.Kill(-pid, 0) == nil {
		t.Errorf("Kong's process group %d outlived the lab", pid)
	}
}
