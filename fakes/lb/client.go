package lb

import (
	"github.com/chaoslab/chaoslab/fakes/control"

	"context"
	"net/http"
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
	return control.Client{Name: "lb", Base: c.Base, HTTP: c.HTTP}.Do(ctx, method, ControlPath, in, out)
}
