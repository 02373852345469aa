package conformance

import "time"

// Case is one row of the matrix: a request (or an Admin API call) and what
// to compare between the two gateways.
type Case struct {
	Name  string // unique, stable: exceptions.yaml refers to it
	Group string // proxy, accept, plugin, route, upstream, retry, admin
	// Admin sends the request to the Admin API instead of the proxy.
	Admin bool
	Req   Request
	// Repeat sends the request Repeat extra times first (rate limits,
	// passive health checks); the last answer is compared.
	Repeat int
	// Wait before sending (a reload real Kong applies through an event).
	Wait time.Duration
	// Compare says what is compared beyond the status line, which always is.
	Compare Compare
	// Expect is what facts/kong.md says real Kong answers; it is checked
	// against each gateway, so the suite has hand-checked ground truth even
	// when real Kong is not built.
	Expect Expect
}

// Request is what the client sends.
type Request struct {
	Method  string
	Path    string // with query
	Host    string // Host header; default: the gateway's address
	Headers map[string]string
	Body    string
	// From is the loopback source address to connect from; TrustedPeer
	// is in both gateways' trusted_ips, the default source is not.
	From string
	// Trailing is written on the same connection right after the request
	// (the rest of a body sent past its Content-Length, then the next
	// request): the answer compared is the one to those bytes.
	Trailing string
}

// TrustedPeer is the suite's trusted_ips: a loopback source the client
// uses only when a case says so (Request.From).
const TrustedPeer = "127.0.0.2"

// Compare selects the aspects compared for a case.
type Compare struct {
	Body     bool // the whole normalised body (JSON compared as JSON)
	Headers  bool // every response header name and normalised value
	Upstream bool // what the upstream received: method, path, Host, headers
	Tries    bool // how many requests reached the upstream
	ErrorLog bool // the [error]/[warn] lines the request caused
	Timing   bool // elapsed time within a tolerance (retries x timeouts)
	// JSONFields limits a JSON body comparison to these dotted paths
	// (Admin API documents full of node-specific values).
	JSONFields []string
}

// Expect is a hand-checked expectation from facts/kong.md.
type Expect struct {
	Status       int
	BodyContains []string
	Header       map[string]string // exact normalised value; "" means absent
	MinElapsed   time.Duration
}
