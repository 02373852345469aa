package upstream

import (
	"github.com/chaoslab/chaoslab/fakes/control"

	"context"
	"net/http"
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
	return control.Client{Name: "upstream", Base: c.Base, HTTP: c.HTTP}.Do(ctx, method, ControlPrefix+path, in, out)
}
