package lb

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/chaoslab/chaoslab/internal/loopback"
)

// X-Forwarded-For modes: what the hop does with the client's address.
const (
	XFFAppend    = "append"    // prior chain + ", " + client IP (most LBs; the default)
	XFFOverwrite = "overwrite" // client IP only: the chain the client sent is dropped
	XFFNone      = "none"      // leave the header exactly as the client sent it
)

// X-Forwarded-Proto values: a TLS-terminating LB says "https" whatever the
// hop to the backend uses; none passes the client's header through.
const (
	XFPHTTP  = "http"
	XFPHTTPS = "https"
	XFPNone  = "none"
)

// Config is the load balancer's start-up configuration. Zero values mean the
// defaults: listen 127.0.0.1:0, Host passed through, XFF append, XFP none.
type Config struct {
	Listen  string // default 127.0.0.1:0
	Backend string // http://<loopback>:PORT; required
	// Backends are more nodes behind the hop, comma-separated, taken in
	// turn with Backend (round robin; roundrobin.go). A string keeps Config
	// comparable.
	Backends string
	// StripAuthorization drops the Authorization header on the way to the
	// backend: the incident where the LB eats the header and Kong answers 401.
	StripAuthorization bool
	Host               string // rewrite Host to this; "" keeps the client's Host
	XFF                string // append|overwrite|none; "" means append
	XFP                string // http|https|none; "" means none
	// Retry and ReframeShort are the hop's misbehaviours beyond headers
	// (retry.go, reframe.go); AllowNonLoopback is for bridge networks.
	Retry            Retry
	ReframeShort     int    // re-frame request bodies with a Content-Length this many bytes short
	AllowNonLoopback bool   // allow a backend off loopback (containers on a bridge network)
	StripHeaders     string // drop these request headers (comma separated) on the way to the backend
}

// Policy is what the hop does to each request; the control API changes it at
// run time (GET/PUT /__chaoslab/lb).
type Policy struct {
	StripAuthorization bool   `json:"strip_authorization"`
	Host               string `json:"host"`
	XFF                string `json:"xff"`
	XFP                string `json:"xfp"`
	Retry
	ReframeShort int    `json:"reframe_short"`
	StripHeaders string `json:"strip_headers"` // comma separated
}

func (c Config) policy() Policy {
	p := Policy{StripAuthorization: c.StripAuthorization, Host: c.Host, XFF: c.XFF, XFP: c.XFP,
		Retry: c.Retry, ReframeShort: c.ReframeShort, StripHeaders: c.StripHeaders}
	return p.withDefaults()
}

func (p Policy) withDefaults() Policy {
	if p.XFF == "" {
		p.XFF = XFFAppend
	}
	if p.XFP == "" {
		p.XFP = XFPNone
	}
	return p
}

// Validate names the bad field in flag terms.
func (p Policy) Validate() error {
	switch p.XFF {
	case "", XFFAppend, XFFOverwrite, XFFNone:
	default:
		return fmt.Errorf("--xff: must be append, overwrite or none, got %q", p.XFF)
	}
	switch p.XFP {
	case "", XFPHTTP, XFPHTTPS, XFPNone:
	default:
		return fmt.Errorf("--xfp: must be http, https or none, got %q", p.XFP)
	}
	if strings.ContainsAny(p.Host, " \t\r\n/?#@") {
		return fmt.Errorf("--host: must be a host name or host:port, got %q", p.Host)
	}
	for _, n := range strings.Split(p.StripHeaders, ",") {
		if strings.ContainsAny(strings.TrimSpace(n), " \t\r\n:") {
			return fmt.Errorf("--strip-headers: header names separated by commas, got %q", p.StripHeaders)
		}
	}
	if p.ReframeShort < 0 {
		return fmt.Errorf("--reframe-short: must not be negative, got %d", p.ReframeShort)
	}
	return p.Retry.validate()
}

// parseBackend accepts only a plain-HTTP backend on loopback (the lab never
// sends traffic anywhere else) unless the lab allows others: a hop in a
// container reaches the gateway's container by alias on a bridge network.
func parseBackend(raw string, allowNonLoopback bool) (*url.URL, error) {
	if raw == "" {
		return nil, fmt.Errorf("--backend: required (http://127.0.0.1:PORT)")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("--backend: %v", err)
	}
	if u.Scheme != "http" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("--backend: want http://HOST:PORT[/path], got %q", raw)
	}
	if !allowNonLoopback && !loopback.Host(u.Hostname()) {
		return nil, fmt.Errorf("--backend: only a loopback backend is allowed (127.0.0.1, [::1] or localhost), got %q", raw)
	}
	return u, nil
}
