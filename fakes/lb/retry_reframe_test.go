package lb

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// slowFirst answers the first `slow` requests after hold (or never, until
// the test ends), the others at once; it counts arrivals (the side effect).
type slowFirst struct {
	*httptest.Server
	arrived atomic.Int64
}

func newSlowFirst(t *testing.T, slow int64, hold time.Duration) *slowFirst {
	t.Helper()
	b := &slowFirst{}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := b.arrived.Add(1)
		body, _ := io.ReadAll(r.Body)
		if n <= slow {
			select {
			case <-time.After(hold):
			case <-r.Context().Done():
				return
			}
		}
		fmt.Fprintf(w, "try %d %s %s", n, r.Method, body)
	}))
	t.Cleanup(b.Close)
	return b
}

func do(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The incident: a POST whose first try times out is sent again; the backend
// executes it twice and the client sees one answer, from the second try.
func TestRetryPolicyRetriesTimedOutPOSTOnlyWhenAllowed(t *testing.T) {
	retry := Retry{TryTimeout: 100 * time.Millisecond, Retries: 2, RetryNonIdempotent: true}
	be := newSlowFirst(t, 1, 5*time.Second)
	hop := startLB(t, Config{Backend: be.URL, Retry: retry})
	code, body := do(t, "POST", hop.URL()+"/orders", `{"qty":1}`)
	if code != 200 || body != `try 2 POST {"qty":1}` {
		t.Fatalf("retried POST: got %d %q, want the second try's answer with the same body", code, body)
	}
	if n := be.arrived.Load(); n != 2 {
		t.Fatalf("backend executed the POST %d times, want 2", n)
	}
	if st := hop.Stats(); st.TryTimeouts != 1 || st.Retried != 1 {
		t.Fatalf("stats %+v, want 1 timeout and 1 retry", st)
	}

	// The fix: POST is not retried; the timed-out try is a 504 and the
	// backend saw it once.
	be = newSlowFirst(t, 1, 5*time.Second)
	retry.RetryNonIdempotent = false
	hop = startLB(t, Config{Backend: be.URL, Retry: retry})
	if code, body := do(t, "POST", hop.URL()+"/orders", "x"); code != 504 || !strings.Contains(body, "timed out") {
		t.Fatalf("POST not retried: got %d %q, want the hop's 504", code, body)
	}
	if n := be.arrived.Load(); n != 1 {
		t.Fatalf("backend executed the POST %d times, want 1", n)
	}
	// GET is idempotent: still retried.
	if code, body := do(t, "GET", hop.URL()+"/orders", ""); code != 200 || !strings.HasPrefix(body, "try 2 GET") {
		t.Fatalf("GET: got %d %q", code, body)
	}
	if st := hop.Stats(); st.TryTimeouts != 1 || st.Retried != 0 || st.BackendErrors != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRetryAllTriesTimeOutIs504(t *testing.T) {
	be := newSlowFirst(t, 100, 5*time.Second)
	hop := startLB(t, Config{Backend: be.URL, Retry: Retry{TryTimeout: 50 * time.Millisecond, Retries: 2}})
	if code, _ := do(t, "GET", hop.URL()+"/", ""); code != 504 {
		t.Fatalf("got %d, want 504", code)
	}
	if n := be.arrived.Load(); n != 3 {
		t.Fatalf("backend saw %d tries, want 3", n)
	}
}

func TestRetryPolicyThroughControlAPI(t *testing.T) {
	be := newBackend(t)
	hop := startLB(t, Config{Backend: be.URL})
	c := &Client{Base: hop.URL(), HTTP: client}
	st, err := c.Apply(context.Background(), Settings{Retry: &Retry{TryTimeout: time.Second, Retries: 1, RetryNonIdempotent: true}})
	if err != nil {
		t.Fatal(err)
	}
	if st.Policy.Retry != (Retry{TryTimeout: time.Second, Retries: 1, RetryNonIdempotent: true}) {
		t.Fatalf("policy %+v", st.Policy)
	}
	if _, err := c.Apply(context.Background(), Settings{Retry: &Retry{Retries: 1}}); err == nil || !strings.Contains(err.Error(), "--try-timeout") {
		t.Fatalf("retries without a try timeout: got %v", err)
	}
	if code, _ := do(t, "POST", hop.URL()+"/x", "body"); code != 200 {
		t.Fatalf("got %d", code)
	}
}

// rawBackend is an HTTP/1.1 server on raw connections that records, per
// connection, the request lines and bodies it parsed by Content-Length, and
// answers 400 and closes on a request line it cannot parse (as nginx does).
type rawBackend struct {
	ln    net.Listener
	mu    sync.Mutex
	lines []string
	wg    sync.WaitGroup
}

func newRawBackend(t *testing.T) *rawBackend {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &rawBackend{ln: ln}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.wg.Add(1)
			go func() { defer b.wg.Done(); b.serve(c) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); b.wg.Wait() })
	return b
}

func (b *rawBackend) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			if err != io.EOF {
				b.record("bad request")
				io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 11\r\nConnection: close\r\n\r\nBad request")
			}
			return
		}
		body, _ := io.ReadAll(req.Body)
		b.record(req.Method + " " + req.URL.Path + " " + string(body))
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	}
}

func (b *rawBackend) record(s string) {
	b.mu.Lock()
	b.lines = append(b.lines, s)
	b.mu.Unlock()
}

func (b *rawBackend) seen() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.lines...)
}

// keepAliveClient reuses one connection to the hop, like a busy client pool.
func keepAliveClient(t *testing.T) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 1}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

// The incident: a chunked body forwarded with a Content-Length 4 bytes
// short. The backend gets a truncated body and the next request on that
// connection, someone else's, fails with 400.
func TestReframeShortPoisonsTheNextRequest(t *testing.T) {
	be := newRawBackend(t)
	hop := startLB(t, Config{Backend: "http://" + be.ln.Addr().String(), ReframeShort: 4})
	hc := keepAliveClient(t)
	post := func() (int, string) {
		// io.Reader without a length: Go sends it chunked.
		req, _ := http.NewRequest("POST", hop.URL()+"/orders", io.MultiReader(strings.NewReader(`{"qty":`), strings.NewReader(`1}`)))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if req, _ := http.NewRequest("POST", hop.URL(), io.MultiReader(strings.NewReader("x"))); req.ContentLength != 0 {
		t.Fatalf("the client would not send chunked (ContentLength %d)", req.ContentLength)
	}
	if code, body := post(); code != 200 || body != `{"qty` {
		t.Fatalf("first POST: got %d %q, want 200 with the body cut 4 bytes short", code, body)
	}
	if code, _ := post(); code != 400 {
		t.Fatalf("second POST on the poisoned connection: got %d, want the backend's 400", code)
	}
	if code, body := post(); code != 200 || body != `{"qty` {
		t.Fatalf("third POST on a fresh connection: got %d %q", code, body)
	}
	if got, want := be.seen(), []string{`POST /orders {"qty`, "bad request", `POST /orders {"qty`}; !reflect.DeepEqual(got, want) {
		t.Fatalf("backend saw %q, want %q", got, want)
	}
	if st := hop.Stats(); st.Reframed != 3 {
		t.Fatalf("stats %+v, want 3 re-framed", st)
	}

	// The fix: bodies pass through unchanged, on the pooled transport.
	zero := 0
	if _, err := (&Client{Base: hop.URL(), HTTP: client}).Apply(context.Background(), Settings{ReframeShort: &zero}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if code, body := post(); code != 200 || body != `{"qty":1}` {
			t.Fatalf("fixed POST %d: got %d %q", i, code, body)
		}
	}
}

func TestReframeNegativeRejected(t *testing.T) {
	_, err := Start(context.Background(), Config{Backend: "http://127.0.0.1:1", ReframeShort: -1})
	if err == nil || !strings.Contains(err.Error(), "--reframe-short") {
		t.Fatalf("got %v", err)
	}
}

func TestAllowNonLoopbackBackend(t *testing.T) {
	_, err := Start(context.Background(), Config{Backend: "http://gateway:8000"})
	if err == nil || !strings.Contains(err.Error(), "only a loopback backend") {
		t.Fatalf("default: got %v", err)
	}
	s, err := Start(context.Background(), Config{Backend: "http://gateway:8000", AllowNonLoopback: true})
	if err != nil {
		t.Fatalf("allowed: %v", err)
	}
	s.Close()
}

func TestMoreArgsRoundTrip(t *testing.T) {
	in := Config{Listen: "127.0.0.1:0", Backend: "http://127.0.0.1:8000", ReframeShort: 3, AllowNonLoopback: true, StripHeaders: "X-Tenant,X-Trace",
		Retry: Retry{TryTimeout: 250 * time.Millisecond, Retries: 2, RetryNonIdempotent: true}}
	var out Config
	fs := flag.NewFlagSet("lb", flag.ContinueOnError)
	out.RegisterFlags(fs)
	if err := fs.Parse(in.Args()); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip:\n in %+v\nout %+v", in, out)
	}
}

func TestStripHeaders(t *testing.T) {
	be := newBackend(t)
	hop := startLB(t, Config{Backend: be.URL, StripHeaders: "X-Tenant, x-trace"})
	send(t, hop.URL()+"/", "", map[string]string{"X-Tenant": "acme", "X-Trace": "1", "X-Keep": "yes"})
	r := be.last(t)
	if r.Header.Get("X-Tenant") != "" || r.Header.Get("X-Trace") != "" || r.Header.Get("X-Keep") != "yes" {
		t.Fatalf("backend got %v", r.Header)
	}
	none := ""
	if _, err := (&Client{Base: hop.URL(), HTTP: client}).Apply(context.Background(), Settings{StripHeaders: &none}); err != nil {
		t.Fatal(err)
	}
	send(t, hop.URL()+"/", "", map[string]string{"X-Tenant": "acme"})
	if be.last(t).Header.Get("X-Tenant") != "acme" {
		t.Fatal("X-Tenant still stripped after the fix")
	}
	bad := "X Tenant"
	if _, err := (&Client{Base: hop.URL(), HTTP: client}).Apply(context.Background(), Settings{StripHeaders: &bad}); err == nil {
		t.Fatal("a bad header list was accepted")
	}
}
