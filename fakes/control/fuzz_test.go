package control_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/chaoslab/chaoslab/fakes/imds"
	"github.com/chaoslab/chaoslab/fakes/lb"
	"github.com/chaoslab/chaoslab/fakes/tokens"
)

// FuzzControlEndpoints PUTs arbitrary bodies, with arbitrary content types,
// to the control endpoint of every fake that has one (the metadata service,
// the load balancer, the token issuer): what a trainee's `curl -X PUT` or a
// drill's `set` sends. Properties: the answer is 200 with the new state or
// 400 with a non-empty {"error": ...} naming what is wrong (never a 5xx, a
// panic or a hang), and afterwards the endpoint still answers GET with a
// state document.
func FuzzControlEndpoints(f *testing.F) {
	for _, s := range []string{`{}`, `{"latency":"40ms"}`, `{"latency":"-1s"}`, `{"fail":"500"}`, `{"ttl":"15m"}`,
		`{"strip_authorization":true}`, `{"xff":"bogus"}`, `{"nope":1}`, `{"latency":5}`, `[]`, `null`, `{`, ``,
		`{"imdsv2_required":"yes"}`, `{"ttl":"1e400h"}`, strings.Repeat(`[`, 10000)} {
		f.Add([]byte(s), "application/json")
	}
	ctx := context.Background()
	md, err := imds.Start(ctx, imds.Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = md.Close() })
	hop, err := lb.Start(ctx, lb.Config{Backend: md.URL()})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = hop.Close() })
	iss, err := tokens.Start(ctx, tokens.Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = iss.Close() })
	endpoints := map[string]string{"imds": md.URL(), "lb": hop.URL(), "tokens": iss.URL()}
	hc := &http.Client{Timeout: 5 * time.Second}
	f.Cleanup(hc.CloseIdleConnections)

	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		for name, base := range endpoints {
			url := strings.TrimSuffix(base, "/") + "/__chaoslab/" + name
			req, err := http.NewRequest(http.MethodPut, url, bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if !httpguts.ValidHeaderFieldValue(contentType) {
				contentType = "application/json" // Go's client would refuse to send it
			}
			req.Header.Set("Content-Type", contentType)
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatalf("%s: PUT %q: %v", name, body, err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusOK:
			case http.StatusBadRequest:
				var e struct{ Error string }
				if json.Unmarshal(b, &e) != nil || strings.TrimSpace(e.Error) == "" {
					t.Fatalf("%s: PUT %q: a 400 without an error message: %s", name, body, b)
				}
			default:
				t.Fatalf("%s: PUT %q: %s %s", name, body, resp.Status, b)
			}
			get, err := hc.Get(url)
			if err != nil {
				t.Fatalf("%s: GET after PUT %q: %v", name, body, err)
			}
			b, _ = io.ReadAll(get.Body)
			get.Body.Close()
			var state map[string]any
			if get.StatusCode != http.StatusOK || json.Unmarshal(b, &state) != nil {
				t.Fatalf("%s: GET after PUT %q: %s %s", name, body, get.Status, b)
			}
		}
	})
}
