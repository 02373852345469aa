package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzParse feeds arbitrary kong.yml / JSON bodies (what `POST /config` and
// --config accept) to the parser. Properties: no panic; an answer within a
// bound (no YAML alias bomb or pathological input stalls the admin API);
// a refusal is a *Error whose every field error says what is wrong, and
// where when it can (a path or a line); an accepted config re-parses from
// its own raw bytes to the same hash (the reload contract).
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"_format_version: \"3.0\"\nservices:\n- name: api\n  url: http://127.0.0.1:9000\n  routes:\n  - name: r\n    paths: [/]\n",
		"_format_version: \"3.0\"\nservices:\n- name: api\n  host: 127.0.0.1\n  port: 80\n  read_timeout: x\n",
		`{"_format_version":"3.0","services":[{"name":"a","url":"http://127.0.0.1:1","routes":[{"paths":["/"]}]}]}`,
		"_format_version: \"3.0\"\nupstreams:\n- name: u\n  targets:\n  - target: 127.0.0.1:1\n  healthchecks:\n    active:\n      healthy: {interval: 1}\n",
		"_format_version: \"3.0\"\nconsumers:\n- username: u\n  keyauth_credentials:\n  - key: k\nplugins:\n- name: key-auth\n  config: {key_names: [apikey], hide_credentials: true}\n",
		"_format_version: \"3.0\"\nplugins:\n- name: rate-limiting\n  config: {second: 5, policy: local}\n- name: jwt\n- name: correlation-id\n- name: request-termination\n  config: {status_code: 503}\n",
		"a: &a [*a, *a]\n", "x: &x\n  - &y [*x,*x,*x,*x]\n  - [*y,*y,*y,*y]\n", "", "\t{}", "- 1\n- 2\n", "_format_version: 3.0\n", "services: 7\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		t0 := time.Now()
		cfg, err := Parse(b)
		if d := time.Since(t0); d > 2*time.Second {
			t.Fatalf("parsing %d bytes took %s", len(b), d)
		}
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || len(ce.Errors) == 0 {
				t.Fatalf("refusal is not a *config.Error with field errors: %T %v", err, err)
			}
			for _, fe := range ce.Errors {
				if strings.TrimSpace(fe.Message) == "" {
					t.Fatalf("a field error without a message: %+v (input %q)", fe, b)
				}
			}
			_ = ce.Fields() // the admin API renders it: must not panic
			return
		}
		again, err := Parse(cfg.Raw())
		if err != nil || again.Hash != cfg.Hash {
			t.Fatalf("an accepted config does not re-parse to itself: %v", err)
		}
	})
}
