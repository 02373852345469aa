package config

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestConfigValidation(t *testing.T) {
	cases := []struct {
		name string
		cfg  string
		want []string // FieldError.String() lines, in order
	}{
		{"timeout as string", `_format_version: "3.0"
services:
- name: a
  url: http://127.0.0.1:1
  read_timeout: "60000"
`, []string{`services[0].read_timeout: expected an integer (line 5)`}},
		{"timeout out of range and retries", `_format_version: "3.0"
services:
- name: a
  host: 127.0.0.1
  connect_timeout: -1
  retries: 40000
`, []string{`services[0].connect_timeout: value should be between 0 and 2147483646 (line 5)`, `services[0].retries: value should be between 0 and 32767 (line 6)`}},
		{"tls_verify on http", `_format_version: "3.0"
services:
- name: a
  url: http://127.0.0.1:1
  tls_verify: true
`, []string{`services[0]: failed conditional validation given value of field 'protocol' (line 3)`, `services[0].tls_verify: value must be null (line 5)`}},
		{"missing format version and unknown field", `services:
- name: a
  host: 127.0.0.1
  colour: blue
`, []string{`_format_version: required field missing (line 1)`, `services[0].colour: unknown field (line 4)`}},
		{"bad route path and no matchers", `_format_version: "3.0"
services:
- name: a
  host: 127.0.0.1
  routes:
  - paths: ["api"]
  - name: empty
`, []string{`services[0].routes[0].paths[0]: should start with: / (fixed path) or ~/ (regex path) (line 6)`,
			`services[0].routes[1]: must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'https' (line 7)`}},
		{"unknown and unsupported plugins", `_format_version: "3.0"
plugins:
- name: frobnicate
- name: cors
`, []string{`plugins[0].name: plugin 'frobnicate' not enabled; add it to the 'plugins' configuration property (line 3)`,
			`plugins[1].name: the emulation does not support plugin 'cors' (supported: correlation-id, jwt, key-auth, pre-function, rate-limiting, request-termination) (line 4)`}},
		{"pre-function beyond ngx.sleep", `_format_version: "3.0"
plugins:
- name: pre-function
  config:
    access: ["ngx.sleep(0.1); kong.response.exit(500)"]
`, []string{`plugins[0].config.access[0]: the emulation only supports ngx.sleep(<seconds>) statements in pre-function, got "ngx.sleep(0.1); kong.response.exit(500)" (line 5)`}},
		{"unknown ca certificate", `_format_version: "3.0"
services:
- name: a
  url: https://127.0.0.1:1
  tls_verify: true
  ca_certificates: ["3b1e0c5c-1c1e-4d2e-8f00-000000000001"]
`, []string{`services[0].ca_certificates: invalid reference 'ca_certificates: 3b1e0c5c-1c1e-4d2e-8f00-000000000001' (no such entry in 'ca_certificates') (line 6)`}},
		{"rate limiting without limits", `_format_version: "3.0"
plugins:
- name: rate-limiting
  config:
    policy: local
`, []string{`plugins[0]: at least one of these fields must be non-empty: 'config.second', 'config.minute', 'config.hour', 'config.day', 'config.month', 'config.year' (line 3)`}},
		{"route to unknown service", `_format_version: "3.0"
routes:
- name: r
  paths: ["/x"]
  service: nope
`, []string{`routes[0].service: invalid reference 'service: nope' (no such entry in 'services') (line 5)`}},
		{"duplicate service names", `_format_version: "3.0"
services:
- {name: a, host: 127.0.0.1}
- {name: a, host: 127.0.0.1}
`, []string{`services[1]: uniqueness violation: 'services' entity with name set to 'a' already declared (line 4)`}},
		{"yaml syntax", "_format_version: \"3.0\"\nservices: [\n", []string{"failed parsing declarative configuration: yaml: line 2: did not find expected node content"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.cfg))
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a *Error", err)
			}
			var got []string
			for _, fe := range ce.Errors {
				got = append(got, fe.String())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			if !strings.Contains(err.Error(), tc.want[0]) {
				t.Errorf("Error() %q lacks %q", err.Error(), tc.want[0])
			}
		})
	}
}

func TestConfigDefaultsAndJSON(t *testing.T) {
	cfg, err := Parse([]byte(`{"_format_version":"3.0","services":[{"name":"s","host":"example.internal","routes":[{"paths":["/"]}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Services[0]
	if s.Port != 80 || s.Protocol != "http" || s.Retries != 5 || s.ReadTimeout != 60000 || s.ConnectTimeout != 60000 || s.WriteTimeout != 60000 {
		t.Errorf("defaults: %+v", s)
	}
	r := cfg.Routes[0]
	if !r.StripPath || r.PreserveHost || r.Service != s || len(r.Protocols) != 2 {
		t.Errorf("route defaults: %+v", r)
	}
	again, _ := Parse([]byte(`{"_format_version":"3.0","services":[{"name":"s","host":"example.internal","routes":[{"paths":["/"]}]}]}`))
	if again.Services[0].ID != s.ID {
		t.Errorf("generated ids not stable: %s vs %s", again.Services[0].ID, s.ID)
	}
}

// TestKongErrorBody checks POST /config's 400 shape against Kong's.
func TestKongErrorBody(t *testing.T) {
	_, err := Parse([]byte(`_format_version: "3.0"
services:
- name: a
  url: http://127.0.0.1:1
  read_timeout: "x"
  routes:
  - name: r
    paths: ["nope"]
`))
	ce := err.(*Error)
	var body map[string]any
	if err := json.Unmarshal(ce.KongBody(false), &body); err != nil {
		t.Fatal(err)
	}
	if body["code"] != 14.0 || body["name"] != "invalid declarative configuration" {
		t.Errorf("code/name: %v", body)
	}
	wantMsg := `declarative config is invalid: {services={{read_timeout="expected an integer",routes={{paths={"should start with: / (fixed path) or ~/ (regex path)"}}}}}}`
	if body["message"] != wantMsg {
		t.Errorf("message\n got %s\nwant %s", body["message"], wantMsg)
	}
	fields, _ := json.Marshal(body["fields"])
	if string(fields) != `{"services":[{"read_timeout":"expected an integer","routes":[{"paths":["should start with: / (fixed path) or ~/ (regex path)"]}]}]}` {
		t.Errorf("fields %s", fields)
	}
	if _, ok := body["flattened_errors"]; ok {
		t.Errorf("flattened_errors without ?flatten_errors: %v", body)
	}
	var flatBody map[string]any
	if err := json.Unmarshal(ce.KongBody(true), &flatBody); err != nil {
		t.Fatal(err)
	}
	flat := flatBody["flattened_errors"].([]any)
	if len(flat) != 2 {
		t.Fatalf("flattened_errors %v", flat)
	}
	svc := flat[0].(map[string]any)
	if svc["entity_type"] != "service" || svc["entity_name"] != "a" {
		t.Errorf("service entry %v", svc)
	}
	errs, _ := json.Marshal(svc["errors"])
	if string(errs) != `[{"field":"read_timeout","message":"expected an integer","type":"field"}]` {
		t.Errorf("service errors %s", errs)
	}
	route := flat[1].(map[string]any)
	rerrs, _ := json.Marshal(route["errors"])
	if route["entity_type"] != "route" || string(rerrs) != `[{"field":"paths.1","message":"should start with: / (fixed path) or ~/ (regex path)","type":"field"}]` {
		t.Errorf("route entry %v", route)
	}
	if _, hasRoutes := svc["entity"].(map[string]any)["routes"]; hasRoutes {
		t.Errorf("nested routes should be flattened out of the service entity")
	}
	// Kong's ?flatten_errors=1 moves entity errors out of fields.
	json.Unmarshal(ce.KongBody(true), &body)
	if f, _ := json.Marshal(body["fields"]); string(f) != `{}` || body["message"] != "declarative config is invalid: {}" {
		t.Errorf("flattened: fields %s message %v", f, body["message"])
	}
}

// A name declared twice is Kong's reference-stage error: filed under the
// entity type at the index in its own list (measured on real Kong 3.9.1),
// and only when the schema holds.
func TestDuplicateNamesLikeKong(t *testing.T) {
	for _, c := range []struct{ yml, want string }{
		{`{"_format_version":"3.0","services":[{"name":"a","url":"http://127.0.0.1:1","routes":[{"name":"dup","paths":["/a"]}]},` +
			`{"name":"b","url":"http://127.0.0.1:1","routes":[{"name":"dup","paths":["/b"]}]}]}`,
			`{routes={"uniqueness violation: 'routes' entity with name set to 'dup' already declared"}}`},
		{"_format_version: \"3.0\"\nservices:\n- name: a\n  url: http://127.0.0.1:1\n  routes:\n  - name: dup\n    paths: [/a]\n  - name: dup\n    paths: [/b]\n",
			`{routes={[2]="uniqueness violation: 'routes' entity with name set to 'dup' already declared"}}`},
		{`{"_format_version":"3.0","services":[{"name":"a","url":"http://127.0.0.1:1"},{"name":"a","url":"http://127.0.0.1:2"}]}`,
			`{services={[2]="uniqueness violation: 'services' entity with name set to 'a' already declared"}}`},
		// A schema error hides the duplicate, as on Kong.
		{`{"_format_version":"3.0","services":[{"name":"a","url":"http://127.0.0.1:1"},{"name":"a","url":"http://127.0.0.1:2","retries":-1}]}`,
			`{services={[2]={retries="value should be between 0 and 32767"}}}`},
	} {
		_, err := Parse([]byte(c.yml))
		ce, ok := err.(*Error)
		if !ok {
			t.Fatalf("%s: got %v, want a config error", c.yml, err)
		}
		var body struct{ Message string }
		if err := json.Unmarshal(ce.KongBody(false), &body); err != nil {
			t.Fatal(err)
		}
		if want := "declarative config is invalid: " + c.want; body.Message != want {
			t.Errorf("%s:\n got %s\nwant %s", c.yml, body.Message, want)
		}
	}
}
