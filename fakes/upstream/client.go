package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Client drives an upstream's control API. It works the same whether the
// upstream runs in-process or in a container.
type Client struct {
	Base string       // the upstream's URL
	HTTP *http.Client // must trust the upstream's CA when it serves TLS
}

// Behaviour reads the current behaviour.
func (c *Client) Behaviour(ctx context.Context) (ControlState, error) {
	var st ControlState
	return st, c.do(ctx, http.MethodGet, "behaviour", nil, &st)
}

// SetBehaviour replaces the default behaviour and the rules.
func (c *Client) SetBehaviour(ctx context.Context, st ControlState) error {
	return c.do(ctx, http.MethodPut, "behaviour", st, nil)
}

// Stats reads the counters.
func (c *Client) Stats(ctx context.Context) (Stats, error) {
	var st Stats
	return st, c.do(ctx, http.MethodGet, "stats", nil, &st)
}

// Healthy checks the upstream answers its health endpoint.
func (c *Client) Healthy(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "health", nil, nil)
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.Base, "/")+ControlPrefix+path, body)
	if err != nil {
		return err
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("upstream control %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("upstream control %s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	if out != nil && path != "health" {
		return json.Unmarshal(b, out)
	}
	return nil
}
