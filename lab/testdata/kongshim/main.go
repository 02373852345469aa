// Command kongshim stands in for the kong image in the docker backend's
// tests (no registry is reachable to pull kong:3.9): it takes the DB-less
// settings from the same KONG_* environment the backend gives real Kong and
// runs the gateway emulation with them, so the container request, the
// read-only config mount, the listeners, the /status wait and the log
// streams are exercised end to end.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/chaoslab/chaoslab/fakes/kong"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if os.Getenv("KONG_DATABASE") != "off" {
		fmt.Fprintln(os.Stderr, "kongshim: only DB-less mode (KONG_DATABASE=off)")
		os.Exit(1)
	}
	cfg, err := os.ReadFile(os.Getenv("KONG_DECLARATIVE_CONFIG"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "kongshim:", err)
		os.Exit(1)
	}
	// KONG_PROXY_ACCESS_LOG=/dev/stdout, KONG_PROXY_ERROR_LOG=/dev/stderr.
	g, err := kong.Start(ctx, kong.Options{
		ProxyListen: os.Getenv("KONG_PROXY_LISTEN"),
		AdminListen: os.Getenv("KONG_ADMIN_LISTEN"),
		Config:      cfg,
		AccessLog:   logTo(os.Getenv("KONG_PROXY_ACCESS_LOG")),
		ErrorLog:    logTo(os.Getenv("KONG_PROXY_ERROR_LOG")),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "kongshim:", err)
		os.Exit(1)
	}
	<-ctx.Done()
	_ = g.Close()
}

func logTo(value string) io.Writer {
	// Kong's proxy_access_log is "path [format]": the path is the first field.
	path, _, _ := strings.Cut(value, " ")
	switch path {
	case "/dev/stdout":
		return os.Stdout
	case "/dev/stderr":
		return os.Stderr
	}
	return io.Discard
}
