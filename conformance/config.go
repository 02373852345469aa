package conformance

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net"
	"strings"
)

// kongYAML is the one configuration both gateways run. {{ECHO}} is the
// echoing fake upstream, {{CLOSED}} a loopback port nothing listens on.
const kongYAML = `_format_version: "3.0"
services:
- name: echo
  url: http://{{ECHO}}
  routes:
  - name: r-echo
    paths: [/echo]
  - name: r-nostrip
    paths: [/nostrip]
    strip_path: false
  - name: r-preserve
    paths: [/preserve]
    preserve_host: true
  - name: r-hosted
    hosts: [api.example.test]
    paths: [/hosted]
  - name: r-methods
    paths: [/methods]
    methods: [GET]
  - name: r-regex
    paths: ["~/items/\\d+$"]
  - name: r-fail500
    paths: [/fail500]
    strip_path: false
  - name: r-secure
    paths: [/secure]
    protocols: [https]
  - name: r-secure301
    paths: [/secure301]
    protocols: [https]
    https_redirect_status_code: 301
  - name: r-secure302
    paths: [/secure302]
    protocols: [https]
    https_redirect_status_code: 302
  - name: r-secure307
    paths: [/secure307]
    protocols: [https]
    https_redirect_status_code: 307
  - name: r-secure308
    paths: [/secure308]
    protocols: [https]
    https_redirect_status_code: 308
- name: keyauth
  url: http://{{ECHO}}
  routes:
  - name: r-key
    paths: [/key]
    plugins:
    - name: key-auth
  - name: r-key-hide
    paths: [/key-hide]
    plugins:
    - name: key-auth
      config:
        key_names: [x-api-key, apikey]
        hide_credentials: true
- name: jwt
  url: http://{{ECHO}}
  routes:
  - name: r-jwt
    paths: [/jwt]
    plugins:
    - name: jwt
  - name: r-jwt-exp
    paths: [/jwt-exp]
    plugins:
    - name: jwt
      config:
        claims_to_verify: [exp]
- name: limited
  url: http://{{ECHO}}
  routes:
  - name: r-rl
    paths: [/rl]
    plugins:
    - name: rate-limiting
      config:
        minute: 50
        limit_by: ip
  - name: r-rl-tight
    paths: [/rl-tight]
    plugins:
    - name: rate-limiting
      config:
        hour: 2
        limit_by: ip
  - name: r-rl-hidden
    paths: [/rl-hidden]
    plugins:
    - name: rate-limiting
      config:
        minute: 50
        limit_by: ip
        hide_client_headers: true
  - name: r-rl-hidden-tight
    paths: [/rl-hidden-tight]
    plugins:
    - name: rate-limiting
      config:
        hour: 1
        limit_by: ip
        hide_client_headers: true
- name: traced
  url: http://{{ECHO}}
  routes:
  - name: r-cid
    paths: [/cid]
    plugins:
    - name: correlation-id
      config:
        echo_downstream: true
  - name: r-cid-quiet
    paths: [/cid-quiet]
    plugins:
    - name: correlation-id
      config:
        header_name: X-Trace
        generator: uuid
- name: terminated
  url: http://{{ECHO}}
  routes:
  - name: r-term
    paths: [/term]
    plugins:
    - name: request-termination
      config:
        status_code: 403
        message: go away
  - name: r-term-body
    paths: [/term-body]
    plugins:
    - name: request-termination
      config:
        status_code: 503
        body: '{"maintenance":true}'
        content_type: application/json
  - name: r-term-default
    paths: [/term-default]
    plugins:
    - name: request-termination
- name: slow
  url: http://{{ECHO}}/hang
  read_timeout: 300
  retries: 1
  routes:
  - name: r-hang
    paths: [/hang]
- name: slow0
  url: http://{{ECHO}}/hang
  read_timeout: 200
  retries: 0
  routes:
  - name: r-hang0
    paths: [/hang0]
- name: refused
  url: http://{{CLOSED}}
  retries: 2
  routes:
  - name: r-refused
    paths: [/refused]
- name: refused0
  url: http://{{CLOSED}}
  retries: 0
  routes:
  - name: r-refused0
    paths: [/refused0]
- name: pooled
  host: pool
  routes:
  - name: r-pool
    paths: [/pool]
- name: deadpooled
  host: deadpool
  retries: 1
  routes:
  - name: r-deadpool
    paths: [/deadpool]
- name: emptypooled
  host: emptypool
  routes:
  - name: r-emptypool
    paths: [/emptypool]
- name: resolved
  host: {{DNSNAME}}
  port: {{ECHOPORT}}
  routes:
  - name: r-resolved
    paths: [/resolved]
- name: nodns
  host: nowhere.invalid
  retries: 0
  connect_timeout: 1000
  routes:
  - name: r-nodns
    paths: [/nodns]
upstreams:
- name: pool
  targets:
  - target: {{ECHO}}
- name: deadpool
  targets:
  - target: {{CLOSED}}
  healthchecks:
    passive:
      unhealthy:
        tcp_failures: 1
- name: emptypool
consumers:
- username: alice
  custom_id: alice-1
  keyauth_credentials:
  - key: alice-key
  jwt_secrets:
  - key: conf-issuer
    secret: conf-secret
    algorithm: HS256
`

// dnsName is the one name the lab's fake DNS knows (127.0.0.1).
const dnsName = "api.conformance.test"

// Config returns the kong.yml for the lab's addresses.
func Config(echoAddr, closedAddr string) string {
	_, port, _ := net.SplitHostPort(echoAddr)
	return strings.NewReplacer("{{ECHO}}", echoAddr, "{{CLOSED}}", closedAddr, "{{DNSNAME}}", dnsName,
		"{{ECHOPORT}}", port).Replace(kongYAML)
}

// jwtToken signs claims (a JSON object) with HS256.
func jwtToken(claims, secret string) string {
	enc := base64.RawURLEncoding
	head := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString([]byte(claims))
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(head))
	return head + "." + enc.EncodeToString(m.Sum(nil))
}

var (
	jwtValid      = jwtToken(`{"iss":"conf-issuer","exp":4102444800}`, "conf-secret")
	jwtExpired    = jwtToken(`{"iss":"conf-issuer","exp":1000000000}`, "conf-secret")
	jwtBadSig     = jwtToken(`{"iss":"conf-issuer","exp":4102444800}`, "wrong-secret")
	jwtUnknownIss = jwtToken(`{"iss":"nobody","exp":4102444800}`, "conf-secret")
	jwtNoIss      = jwtToken(`{"sub":"x"}`, "conf-secret")
)
