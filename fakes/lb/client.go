package lb

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Client drives a hop's control API, in-process or in a container alike.
type Client struct {
	Base string       // the hop's URL
	HTTP *http.Client // default http.DefaultClient
}

// State reads the policy and counters.
func (c *Client) State(ctx context.Context) (State, error) {
	var st State
	return st, c.do(ctx, http.MethodGet, nil, &st)
}

// Apply changes the policy (see Settings) and returns the new state.
func (c *Client) Apply(ctx context.Context, st Settings) (State, error) {
	var out State
	return out, c.do(ctx, http.MethodPut, st, &out)
}

// PreserveAuthorization applies the incident's fix: stop stripping the
// Authorization header.
func (c *Client) PreserveAuthorization(ctx context.Context) (State, error) {
	f := false
	return c.Apply(ctx, Settings{StripAuthorization: &f})
}

// StripAuthorization injects the incident's fault.
func (c *Client) StripAuthorization(ctx context.Context) (State, error) {
	t := true
	return c.Apply(ctx, Settings{StripAuthorization: &t})
}

func (c *Client) do(ctx context.Context, method string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.Base, "/")+ControlPath, body)
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
		return fmt.Errorf("lb control %s: %w", method, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("lb control %s: %s: %s", method, resp.Status, strings.TrimSpace(string(b)))
	}
	return json.Unmarshal(b, out)
}
