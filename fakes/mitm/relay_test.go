package mitm

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chaoslab/chaoslab/fakes/pki"
)

// origin1xx serves /hints (103 then 200), /echo (POST body back) and
// /upgrade (101, then echoes raw bytes).
func origin1xx(t *testing.T) (*httptest.Server, *pki.ServerTLS) {
	t.Helper()
	s, err := pki.ServerTLSFlags{Enabled: true}.BuildServer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/hints":
			w.Header().Set("Link", "</style.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			_, _ = io.WriteString(w, "final")
		case "/echo":
			_, _ = io.Copy(w, r.Body)
		case "/upgrade":
			c, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer c.Close()
			_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
			line, _ := brw.ReadString('\n')
			_, _ = io.WriteString(c, "echo:"+line)
		}
	}))
	srv.TLS = s.Config
	srv.Config.ErrorLog = discardLogger()
	srv.StartTLS()
	t.Cleanup(func() { srv.Close(); _ = s.Files.Remove() })
	return srv, s
}

func TestRelayInterimResponsesExpectAndUpgrade(t *testing.T) {
	srv, lab := origin1xx(t)
	p := startProxy(t, Config{UpstreamRoots: lab.ClientRoots})
	c, err := connectTLS(t, p, srv.Listener.Addr().String(), "localhost", pki.Pool(p.CA()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)

	fmt.Fprint(c, "GET /hints HTTP/1.1\r\nHost: localhost\r\n\r\n")
	r1, err := http.ReadResponse(br, nil)
	if err != nil || r1.StatusCode != http.StatusEarlyHints || r1.Header.Get("Link") == "" {
		t.Fatalf("want 103 with Link first, got %v %v", r1, err)
	}
	r2, err := http.ReadResponse(br, nil)
	if err != nil || r2.StatusCode != 200 {
		t.Fatalf("then 200: %v %v", r2, err)
	}
	if b, _ := io.ReadAll(r2.Body); string(b) != "final" {
		t.Fatalf("body %q", b)
	}

	// Expect: 100-continue on the same keep-alive connection.
	fmt.Fprint(c, "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	cont, err := http.ReadResponse(br, nil)
	if err != nil || cont.StatusCode != http.StatusContinue {
		t.Fatalf("want 100 Continue before sending the body, got %v %v", cont, err)
	}
	fmt.Fprint(c, "hello")
	r3, err := http.ReadResponse(br, nil)
	if err != nil || r3.StatusCode != 200 {
		t.Fatalf("echo: %v %v", r3, err)
	}
	if b, _ := io.ReadAll(r3.Body); string(b) != "hello" {
		t.Fatalf("echo body %q", b)
	}

	fmt.Fprint(c, "GET /upgrade HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	r4, err := http.ReadResponse(br, nil)
	if err != nil || r4.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("want 101, got %v %v", r4, err)
	}
	fmt.Fprint(c, "ping\n")
	line, err := br.ReadString('\n')
	if err != nil || line != "echo:ping\n" {
		t.Fatalf("after upgrade: %q %v", line, err)
	}
	l := waitLog(t, p, "3 requests", func(l ConnLog) bool { return l.Requests == 3 })
	if !strings.HasPrefix(l.Host, "127.0.0.1:") {
		t.Fatalf("log %+v", l)
	}
}
