package tokens

import (
	"github.com/chaoslab/chaoslab/fakes/control"

	"context"
	"fmt"
	"net/http"
	"time"
)

// Settings is the body of PUT /__chaoslab/tokens; absent fields are left
// as they are.
type Settings struct {
	Lifetime string `json:"lifetime,omitempty"` // Go duration: "300ms", "2s", "-1m"
}

// State is the answer of GET and PUT /__chaoslab/tokens: the issuer's
// settings, counters and the jwt_secrets entry a kong.yml needs.
type State struct {
	Issuer        string        `json:"issuer"`
	Key           string        `json:"key"`
	Alg           string        `json:"alg"`
	Lifetime      string        `json:"lifetime"`
	Clients       []string      `json:"clients"`
	Issued        int64         `json:"issued"`
	Rejected      int64         `json:"rejected"`
	KongJWTSecret KongJWTSecret `json:"kong_jwt_secret"`
}

// State returns the settings and counters.
func (s *Server) State() State {
	return State{Issuer: s.issuer, Key: s.key, Alg: s.alg, Lifetime: s.Lifetime().String(),
		Clients: sortedIDs(s.clients), Issued: s.Issued(), Rejected: s.Rejected(),
		KongJWTSecret: s.KongJWTSecret()}
}

// Apply changes what st names.
func (s *Server) Apply(st Settings) error {
	if st.Lifetime == "" {
		return nil
	}
	d, err := time.ParseDuration(st.Lifetime)
	if err != nil {
		return fmt.Errorf("lifetime: %w", err)
	}
	return s.SetLifetime(d)
}

func (s *Server) control(w http.ResponseWriter, r *http.Request) {
	control.Endpoint(func() any { return s.State() }, s.Apply)(w, r)
}

// ControlClient drives an issuer's control API, in-process or in a
// container alike.
type ControlClient struct {
	Base string       // the issuer's URL
	HTTP *http.Client // default http.DefaultClient
}

// State reads the settings, counters and the Kong jwt_secrets entry.
func (c *ControlClient) State(ctx context.Context) (State, error) {
	var st State
	return st, c.do(ctx, http.MethodGet, nil, &st)
}

// SetLifetime changes the lifetime of tokens issued from now on.
func (c *ControlClient) SetLifetime(ctx context.Context, d time.Duration) (State, error) {
	var st State
	return st, c.do(ctx, http.MethodPut, Settings{Lifetime: d.String()}, &st)
}

func (c *ControlClient) do(ctx context.Context, method string, in, out any) error {
	return control.Client{Name: "tokens", Base: c.Base, HTTP: c.HTTP}.Do(ctx, method, ControlPath, in, out)
}
