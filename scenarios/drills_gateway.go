package scenarios

import (
	"fmt"
	"strconv"
	"time"

	"github.com/chaoslab/chaoslab/lab"
	"github.com/chaoslab/chaoslab/load"
)

// Drill data for the gateway family. The fixes go through Kong's admin API
// as on a DB-less Kong in production: GET /config, edit, POST /config.

func (g *gwSetup) drillGateway() *lab.Gateway     { return g.gw }
func (x *gwUnhealthy) drillGateway() *lab.Gateway { return x.gw }

type gatewayPlay interface{ drillGateway() *lab.Gateway }

// reloadSteps is the exact fix through the admin API, for the last hint.
func reloadSteps(admin, sedExpr string) string {
	return "curl -s " + admin + "/config | jq -r .config > kong.yml\n" +
		"sed -i '" + sedExpr + "' kong.yml\n" +
		"curl -s -X POST " + admin + "/config -F config=@kong.yml"
}

func gwAddresses(p Play, _ *S) []Address {
	g := p.(gatewayPlay).drillGateway()
	out := []Address{
		{Var: "PROXY", Name: "gateway proxy (what clients call)", Value: g.ProxyURL()},
		{Var: "ADMIN", Name: "gateway admin API (Kong 3.9, DB-less: GET/POST /config)", Value: g.AdminURL()},
	}
	if x, ok := p.(interface{ drillUpstream() *lab.Upstream }); ok {
		out = append(out, Address{Var: "ORDERS", Name: "the orders service itself, bypassing the gateway", Value: x.drillUpstream().DirectURL()})
	}
	return out
}

func (g *gwSetup) drillUpstream() *lab.Upstream { return g.up }

func gwLogs(p Play) []LogSource {
	g := p.(gatewayPlay).drillGateway()
	return []LogSource{{"gateway-error.log", g.ErrorLog}, {"gateway-access.log", g.AccessLog}}
}

func gwBackground(path string, rate float64) func(Play) *Background {
	return func(p Play) *Background {
		g := p.(gatewayPlay).drillGateway()
		return &Background{Targets: []load.Target{target("GET", g.ProxyURL()+path)}, Rate: rate,
			Options: []load.Option{load.WithTimeout(5 * time.Second)}}
	}
}

// adminHint is the gateway's admin URL in hints; Expand fills it in.
const adminHint = "$ADMIN"

func init() {
	gw := []string{"curl", "the Kong admin API"}
	RegisterDrill(Drill{
		ID: "gateway/504-slow-upstream", Difficulty: "easy", Tools: gw,
		Ticket: "Since this morning every call to GET /orders through the API gateway fails with 504 Gateway Timeout, " +
			"after about a tenth of a second. The orders team says their service is up and answering.",
		Hints: []string{
			"Reproduce it with timings: curl -s -o /dev/null -w '%{http_code} %{time_total}\\n' $PROXY/orders, and read the gateway's error log.",
			"The error log says 'upstream timed out ... while reading response header from upstream': the gateway gave up waiting. How long does the orders service take when you call it directly, bypassing the gateway?",
			"Compare that latency with the service's timeouts: curl -s $ADMIN/services/orders (read_timeout is in milliseconds).",
			"Raise read_timeout above the service's worst case through the admin API:\n" + reloadSteps(adminHint, "s/read_timeout: 100$/read_timeout: 1000/"),
		},
		Fixes: []string{
			"raise the orders service's read_timeout above its real latency (admin API: GET /config, edit, POST /config)",
		},
		Fastest: []string{
			"curl -s -o /dev/null -w '%{http_code} %{time_total}\\n' $PROXY/orders   # 504 after ~0.1 s",
			"grep 'timed out' gateway-error.log                                     # while reading response header",
			"curl -s $ADMIN/services/orders                                         # read_timeout 100",
		},
		Addresses: gwAddresses, Logs: gwLogs, Background: gwBackground("/orders", 5),
	})
	RegisterDrill(Drill{
		ID: "gateway/504-retries-multiply-wait", Difficulty: "medium", Tools: gw,
		Ticket: "The orders backend is hanging (its team is on it), but our clients see something odd: a failing GET /orders " +
			"takes three times as long to give up as a failing POST. Clients time out waiting on the GETs. Make failing calls fail fast.",
		Hints: []string{
			"Time a GET and a POST through the gateway (curl -w '%{time_total}') and count the error-log lines per request.",
			"Three 'upstream timed out' lines for one GET: the gateway tried the upstream three times. Which service setting makes it try again?",
			"The service's retries (curl -s $ADMIN/services/orders): a GET waits (retries + 1) x read_timeout; a POST, once sent, is not retried.",
			"Set retries to 0 through the admin API:\n" + reloadSteps(adminHint, "s/retries: 2$/retries: 0/"),
		},
		Fixes:     []string{"retries: 0 on the orders service (admin API: GET /config, edit, POST /config); the backend itself stays hung"},
		Fastest:   []string{"grep -c 'upstream timed out' gateway-error.log", "curl -s $ADMIN/services/orders   # retries 2, read_timeout 100"},
		Addresses: gwAddresses, Logs: gwLogs, Background: gwBackground("/orders", 3),
	})
	RegisterDrill(Drill{
		ID: "gateway/503-no-healthy-targets", Difficulty: "medium", Tools: gw,
		Ticket: "Every call to /orders answers 503 Service Unavailable within a millisecond, since the orders service was " +
			"scaled in last night. The orders team says the instance is running and serving reads. A second instance " +
			"(orders-b, address below) has been started and is ready for traffic.",
		Hints: []string{
			"The 503 body says where it comes from: curl -si $PROXY/orders. Is it the service or the gateway?",
			"'failure to get a peer from the ring-balancer' is the gateway's own 503: its balancer has no healthy target. Ask it: curl -s $ADMIN/upstreams/orders-upstream/health",
			"The only target is UNHEALTHY: the active health check's /health fails (curl -si http://$ORDERS_A/health). Add the ready instance as a second target.",
			"Add orders-b as a target through the admin API: GET /config, add '  - target: $ORDERS_B' under targets:, POST /config -F config=@kong.yml",
		},
		Fixes:     []string{"add the healthy instance orders-b as a target of orders-upstream (admin API: GET /config, edit, POST /config)"},
		Fastest:   []string{"curl -si $PROXY/orders   # Kong's own 503 body", "curl -s $ADMIN/upstreams/orders-upstream/health   # UNHEALTHY"},
		Addresses: unhealthyAddresses, Logs: gwLogs, Background: unhealthyBackground,
	})
	RegisterDrill(Drill{
		ID: "gateway/429-rate-limit", Difficulty: "easy", Tools: append(gw, "vegeta or a shell loop"),
		Ticket: "Our batch client calls GET /orders 50 times a second. Since the new gateway config went live, more than " +
			"half of its calls fail with 429 Too Many Requests. The partner contract allows 100 requests a second.",
		Hints: []string{
			"Look at the headers of one answer: curl -si $PROXY/orders | grep -i ratelimit",
			"RateLimit-Limit says what the gateway allows per second. Which plugin sets it, with which config? curl -s $ADMIN/plugins",
			"The rate-limiting plugin on the orders service allows 20 a second; the contract says 100.",
			"Raise the limit through the admin API:\n" + reloadSteps(adminHint, "s/second: 20/second: 100/"),
		},
		Fixes:     []string{"raise the rate-limiting plugin's per-second limit to the contract's 100 (admin API: GET /config, edit, POST /config)"},
		Fastest:   []string{"curl -si $PROXY/orders | grep -i ratelimit   # RateLimit-Limit: 20", "curl -s $ADMIN/plugins"},
		Addresses: gwAddresses, Logs: gwLogs, // no background: it would spend the limit the check measures
	})
	RegisterDrill(Drill{
		ID: "gateway/401-lb-strips-authorization", Difficulty: "hard", Tools: append(gw, "chaoslab drill set"),
		Ticket: "Since this morning's change on the load balancer in front of the gateway, partners get 401 Unauthorized " +
			"on every call, with the API keys and tokens that worked yesterday. Nothing changed in the gateway.",
		Hints: []string{
			"Call through the load balancer and straight at the gateway with the same key (Authorization: " + partnerKey + "). Which answers 401?",
			"The 401 body says 'No API key found in request': the key did not arrive at all. What sits between the client and the gateway?",
			"The load balancer's settings: chaoslab drill set shows them. Its new policy drops a header.",
			"Make the load balancer pass Authorization again: chaoslab drill set LB_STRIP_AUTHORIZATION=false",
		},
		Fixes: []string{"the load balancer passes Authorization again (chaoslab drill set LB_STRIP_AUTHORIZATION=false: " +
			"the LB's policy has no API in this lab)"},
		Fastest: []string{"curl -si -H 'Authorization: " + partnerKey + "' $LB/orders   # 401 No API key found",
			"curl -si -H 'Authorization: " + partnerKey + "' $PROXY/orders   # 200 straight at the gateway"},
		Settings: []Setting{{Key: "LB_STRIP_AUTHORIZATION", Doc: "true|false: whether the load balancer drops the Authorization header",
			Apply: func(p Play, s *S, v string) error {
				strip, err := strconv.ParseBool(v)
				if err != nil {
					return fmt.Errorf("LB_STRIP_AUTHORIZATION=%q: want true or false", v)
				}
				x := p.(*gw401LB)
				if strip {
					_, err = x.ctl.StripAuthorization(s.Ctx)
				} else {
					_, err = x.ctl.PreserveAuthorization(s.Ctx)
				}
				return err
			}}},
		Addresses: func(p Play, s *S) []Address {
			x := p.(*gw401LB)
			return append([]Address{{Var: "LB", Name: "load balancer (what partners call)", Value: x.hop.URL()},
				{Name: "a partner's API key (Authorization header) for /orders", Value: partnerKey},
				{Var: "TOKEN", Name: "a partner's JWT (Authorization: Bearer ...) for /payments", Value: x.token}}, gwAddresses(p, s)...)
		},
		Logs: gwLogs,
		Background: func(p Play) *Background {
			x := p.(*gw401LB)
			key, bearer := x.targets(x.hop.URL())
			return &Background{Targets: []load.Target{key, bearer}, Rate: 4}
		},
	})
}

func unhealthyAddresses(p Play, s *S) []Address {
	x := p.(*gwUnhealthy)
	return append(gwAddresses(p, s),
		Address{Var: "ORDERS_A", Name: "orders instance (the only target)", Value: x.a.Addr()},
		Address{Var: "ORDERS_B", Name: "orders-b, started and ready for traffic", Value: x.b.Addr()})
}

func unhealthyBackground(p Play) *Background {
	return gwBackground("/orders", 5)(p)
}

func (x *gwProtocol) drillGateway() *lab.Gateway { return x.gw }

func init() {
	RegisterDrill(Drill{
		ID: "gateway/protocol-mismatch", Difficulty: "medium", Tools: []string{"curl", "openssl", "the Kong admin API"},
		Ticket: "After last night's migration of two services, /plain answers 502 Bad Gateway and /secure answers " +
			"400 Bad Request, on every call. Both teams say their services are up.",
		Hints: []string{
			"Compare the two answers: curl -si $PROXY/plain and curl -si $PROXY/secure. Which one did the gateway write, which one the service?",
			"The 400 body ('Client sent an HTTP request to an HTTPS server') comes from a TLS server; the gateway's error log has 'SSL_do_handshake() failed' for the other. What does each service's url say? curl -s $ADMIN/services",
			"Ask each upstream directly: curl -si http://$PLAIN_ADDR/ and openssl s_client -connect $SECURE_ADDR </dev/null. Which one speaks TLS?",
			"Swap the schemes back through the admin API: GET /config, plain -> http://, secure -> https://, POST /config -F config=@kong.yml",
		},
		Fixes:   []string{"each service's protocol matches what listens at its port (admin API: GET /config, edit, POST /config)"},
		Fastest: []string{"curl -s $ADMIN/services   # protocol vs port", "grep SSL_do_handshake gateway-error.log"},
		Addresses: func(p Play, s *S) []Address {
			x := p.(*gwProtocol)
			return append(gwAddresses(p, s),
				Address{Var: "PLAIN_ADDR", Name: "the plain service's upstream (host:port)", Value: x.plain.Addr()},
				Address{Var: "SECURE_ADDR", Name: "the secure service's upstream (host:port)", Value: x.tlsd.Addr()})
		},
		Logs: gwLogs,
		Background: func(p Play) *Background {
			g := p.(gatewayPlay).drillGateway()
			return &Background{Targets: []load.Target{target("GET", g.ProxyURL()+"/plain"), target("GET", g.ProxyURL()+"/secure")}, Rate: 4}
		},
	})
}
