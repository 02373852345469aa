package conformance

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaoslab/chaoslab/lab"
)

func obs(status string, body string, hdr map[string]string) Normalised {
	return Normalised{StatusLine: status, Body: body, Headers: hdr}
}

// The comparator must see every kind of difference; otherwise the suite
// could pass on anything.
func TestDiffsSeeEveryAspect(t *testing.T) {
	c := Case{Name: "x", Compare: Compare{Body: true, Headers: true, Upstream: true, Tries: true, ErrorLog: true, Timing: true}}
	base := func() Normalised {
		return Normalised{StatusLine: "HTTP/1.1 502 Bad Gateway", Body: "a", Headers: map[string]string{"Via": "1.1 kong/3.9.1"},
			Received: &Received{Method: "GET", Path: "/p", Host: "h", Headers: map[string]string{"X-Real-Ip": "127.0.0.1"}},
			Tries:    3, ErrorLog: []string{"[error] connect() failed"}, ElapsedMS: 600}
	}
	if d := Diffs(c, base(), base()); len(d) != 0 {
		t.Fatalf("identical sides differ: %v", d)
	}
	for aspect, mutate := range map[string]func(*Normalised){
		AspectStatus:   func(n *Normalised) { n.StatusLine = "HTTP/1.1 504 Gateway Timeout" },
		AspectReason:   func(n *Normalised) { n.StatusLine = "HTTP/1.1 502 Bad gateway" },
		AspectBody:     func(n *Normalised) { n.Body = "b" },
		AspectHeaders:  func(n *Normalised) { n.Headers = map[string]string{"Via": "1.1 kong/3.9.0"} },
		AspectUpstream: func(n *Normalised) { n.Received.Headers = map[string]string{} },
		AspectTries:    func(n *Normalised) { n.Tries = 2 },
		AspectErrorLog: func(n *Normalised) { n.ErrorLog = nil },
		AspectTiming:   func(n *Normalised) { n.ElapsedMS = 1500 },
	} {
		right := base()
		mutate(&right)
		d := Diffs(c, base(), right)
		if len(d) != 1 || d[0].Aspect != aspect {
			t.Errorf("%s changed: diffs %v", aspect, d)
		}
	}
	// Aspects a case does not compare are not compared.
	right := base()
	right.Body, right.Tries = "other", 9
	if d := Diffs(Case{Name: "y"}, base(), right); len(d) != 0 {
		t.Errorf("uncompared aspects reported: %v", d)
	}
}

// Normalisation touches request ids, latencies, dates and the gateway's
// ports, and nothing else.
func TestNormaliserOnlyTouchesVolatileValues(t *testing.T) {
	n := &Normaliser{proxyHostPort: "127.0.0.1:4000", proxyPort: "4000"}
	h := n.Headers(map[string]string{
		"Date": "Tue, 01 Dec 2026 17:00:00 GMT", "X-Kong-Proxy-Latency": "3", "X-Kong-Request-Id": "0123456789abcdef0123456789abcdef",
		"X-Forwarded-Port": "4000", "X-Forwarded-Host": "127.0.0.1", "Content-Length": "42", "Via": "1.1 kong/3.9.1",
	})
	want := map[string]string{"Date": "<date>", "X-Kong-Proxy-Latency": "<x-kong-proxy-latency>", "X-Kong-Request-Id": "<request-id>",
		"X-Forwarded-Port": "<proxy-port>", "X-Forwarded-Host": "127.0.0.1", "Content-Length": "42", "Via": "1.1 kong/3.9.1"}
	for k, v := range want {
		if h[k] != v {
			t.Errorf("%s: got %q, want %q", k, h[k], v)
		}
	}
	if got := n.Log([]string{`2026/12/01 17:00:00 [error] 12#0: *7 connect() failed (111: Connection refused), host: "127.0.0.1:4000"`}); got[0] != `[error] connect() failed (111: Connection refused), host: "<proxy>"` {
		t.Errorf("log line: %q", got[0])
	}
	if got := n.String("The upstream server is timing out\nrequest_id: 0123456789abcdef0123456789abcdef\n"); got != "The upstream server is timing out\nrequest_id: <request-id>\n" {
		t.Errorf("body: %q", got)
	}
}

func TestExceptionsExplainDiffsAndStaleOnesAreReported(t *testing.T) {
	exc, err := LoadExceptions("exceptions.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_ = exc
	dir := t.TempDir()
	bad := filepath.Join(dir, "e.yaml")
	if err := os.WriteFile(bad, []byte("exceptions:\n- case: x\n  aspect: body\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadExceptions(bad); err == nil || !strings.Contains(err.Error(), "reason") {
		t.Errorf("an exception without a reason was accepted: %v", err)
	}
	e := Exception{Case: "*", Aspect: AspectReason, Reason: "r"}
	if !e.covers("any", Diff{Aspect: AspectReason}) || e.covers("any", Diff{Aspect: AspectStatus}) {
		t.Error("wildcard exception covers the wrong aspects")
	}
}

// A deliberately wrong expectation makes a live case fail, and a side that
// answers differently makes the comparison fail: the suite can fail.
func TestWrongExpectationAndDifferentGatewayFail(t *testing.T) {
	if testing.Short() {
		t.Skip("starts gateways")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	top := newTopology(t)
	cases := []Case{
		{Name: "wrong-expectation", Req: get("/nowhere"), Compare: full, Expect: Expect{Status: 200}},
		{Name: "proxied", Req: get("/echo/a"), Compare: proxied},
	}
	// The "other" gateway runs a config whose echo route keeps its prefix.
	other := Side{Name: "tampered", Start: func(ctx context.Context, l *lab.Lab, y string, o lab.GatewayOptions) (Target, error) {
		y = strings.Replace(y, "  - name: r-echo\n    paths: [/echo]\n", "  - name: r-echo\n    paths: [/echo]\n    strip_path: false\n", 1)
		return startAs(ctx, l, y, "emulation", o)
	}}
	res, err := Run(ctx, top, Emulation(), other, cases, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Cases[0].Passed() || len(res.Cases[0].LeftExpect) == 0 {
		t.Errorf("a wrong expectation passed: %+v", res.Cases[0])
	}
	found := false
	for _, d := range res.Cases[1].Diffs {
		found = found || (d.Aspect == AspectUpstream && d.What == "path" && d.Left == "/a" && d.Right == "/echo/a")
	}
	if res.Cases[1].Passed() || !found {
		t.Errorf("a different upstream path was not reported: %v", res.Cases[1].Diffs)
	}
}
