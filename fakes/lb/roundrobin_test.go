package lb

import (
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"
)

// With --also-backend the hop hands requests to its backends in turn; Host
// and path are the client's whichever node answers.
func TestRoundRobin(t *testing.T) {
	a, b, c := newBackend(t), newBackend(t), newBackend(t)
	s := startLB(t, Config{Backend: a.URL, Backends: b.URL + "," + c.URL})
	for i := 0; i < 9; i++ {
		if code, body := send(t, s.URL()+"/orders", "api.lab", nil); code != 200 || body != "backend /orders" {
			t.Fatalf("request %d: %d %q", i, code, body)
		}
	}
	for _, be := range []*backend{a, b, c} {
		if be.count() != 3 {
			t.Errorf("backend %s got %d of 9, want 3", be.URL, be.count())
		}
		if got := be.last(t); got.Host != "api.lab" {
			t.Errorf("backend %s got Host %q", be.URL, got.Host)
		}
	}
	sent := s.Sent()
	if len(sent) != 3 || sent[strings.TrimPrefix(b.URL, "http://")] != 3 {
		t.Errorf("Sent() = %v", sent)
	}
	if st := s.Stats(); st.Requests != 9 {
		t.Errorf("stats %+v", st)
	}
}

func TestRoundRobinBadBackends(t *testing.T) {
	be := newBackend(t)
	for more, want := range map[string]string{
		"http://10.0.0.1:80":     "--also-backend: only a loopback backend is allowed",
		"http://127.0.0.1:1/sub": "every backend must have --backend's path",
		"https://127.0.0.1:1":    "--also-backend: want http://HOST:PORT",
	} {
		if _, err := Start(t.Context(), Config{Backend: be.URL, Backends: more}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", more, err, want)
		}
	}
	var c Config
	fs := flag.NewFlagSet("lb", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.RegisterFlags(fs)
	if err := fs.Parse([]string{"--backend", be.URL, "--also-backend", "http://127.0.0.1:1,http://127.0.0.1:2"}); err == nil {
		t.Error("two backends in one --also-backend accepted")
	}
	in := Config{Listen: "127.0.0.1:0", Backend: be.URL, Backends: "http://127.0.0.1:1,http://127.0.0.1:2"}
	var out Config
	fs = flag.NewFlagSet("lb", flag.ContinueOnError)
	out.RegisterFlags(fs)
	if err := fs.Parse(in.Args()); err != nil || !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip: %v\n in %+v\nout %+v", err, in, out)
	}
}
