// Package control is the small JSON-over-HTTP plumbing every fake's control
// endpoint shares (GET/PUT /__chaoslab/<fake>): the lab steers a fake in a
// container exactly as one in-process, so the fakes all speak it.
package control

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// WriteJSON answers status with v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// DecodeStrict reads a JSON body into v; unknown fields are an error, so a
// typo in a control request fails loudly instead of being ignored.
func DecodeStrict(r io.Reader, v any) error {
	dec := json.NewDecoder(io.LimitReader(r, 1<<20))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// Client calls one fake's control endpoint.
type Client struct {
	Name string       // the fake, for error messages ("imds")
	Base string       // the fake's URL
	HTTP *http.Client // default http.DefaultClient
}

// Do sends method path with in as JSON (nil: no body) and decodes a 200
// answer into out (nil: ignore it). Any other status is an error carrying
// the answer's text.
func (c Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.Base, "/")+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s control %s %s: %w", c.Name, method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s control %s %s: %s: %s", c.Name, method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

// Endpoint serves a fake's control document: GET answers state(); PUT
// decodes S strictly, applies it (an error is a 400 naming the field) and
// answers the new state. Other methods get 405.
func Endpoint[S any](state func() any, apply func(S) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
		case http.MethodPut:
			var s S
			if err := DecodeStrict(r.Body, &s); err != nil {
				WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "body: " + err.Error()})
				return
			}
			if err := apply(s); err != nil {
				WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
				return
			}
		default:
			w.Header().Set("Allow", "GET, PUT")
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		WriteJSON(w, http.StatusOK, state())
	}
}
