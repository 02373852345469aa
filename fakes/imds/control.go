package imds

import (
	"github.com/chaoslab/chaoslab/fakes/control"

	"context"
	"fmt"
	"net/http"
	"time"
)

// ControlPrefix is reserved for the control API; calls under it are not
// metadata calls and are not counted.
const ControlPrefix = "/__chaoslab/"

// ControlPath is where the lab reads (GET) and changes (PUT) the service's
// behaviour, so an IMDS in a container is driven like one in-process.
const ControlPath = ControlPrefix + "imds"

// Settings is the body of PUT /__chaoslab/imds. Empty fields are left as
// they are, so {"fail":"500"} only injects the failure. Durations are Go
// durations ("15m", "40ms"; "0s" clears a latency).
type Settings struct {
	TTL            string   `json:"ttl,omitempty"`
	Latency        string   `json:"latency,omitempty"`
	Fail           FailMode `json:"fail,omitempty"`
	IMDSv2Required *bool    `json:"imdsv2_required,omitempty"`
}

// State is the answer of GET and PUT /__chaoslab/imds.
type State struct {
	TTL            string           `json:"ttl"`
	Latency        string           `json:"latency"`
	Fail           FailMode         `json:"fail"`
	Role           string           `json:"role"`
	IMDSv2Required bool             `json:"imdsv2_required"`
	Total          int64            `json:"total"`
	Calls          map[string]int64 `json:"calls"`
	Credentials    int64            `json:"credentials"` // documents handed out
}

// State returns the current behaviour and counters.
func (s *Server) State() State {
	calls := s.Calls()
	s.mu.RLock()
	defer s.mu.RUnlock()
	return State{TTL: s.ttl.String(), Latency: s.latency.String(), Fail: s.fail, Role: s.role,
		IMDSv2Required: s.v2Only, Total: s.total.Load(), Calls: calls, Credentials: s.issued}
}

// Apply changes what st names, all or nothing.
func (s *Server) Apply(st Settings) error {
	var ttl, latency time.Duration
	var err error
	if st.TTL != "" {
		if ttl, err = time.ParseDuration(st.TTL); err != nil {
			return fmt.Errorf("ttl: %w", err)
		}
		if validTTL(ttl) != nil {
			return fmt.Errorf("ttl: must be at least 1s, got %q", st.TTL)
		}
	}
	if st.Latency != "" {
		if latency, err = time.ParseDuration(st.Latency); err != nil {
			return fmt.Errorf("latency: %w", err)
		}
		if latency < 0 {
			return fmt.Errorf("latency: must not be negative, got %q", st.Latency)
		}
	}
	if err := st.Fail.Validate(); err != nil {
		return fmt.Errorf("fail: must be one of none|500|hang, got %q", string(st.Fail))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if st.TTL != "" {
		s.ttl = ttl
	}
	if st.Latency != "" {
		s.latency = latency
	}
	if st.Fail != "" {
		s.fail = st.Fail
	}
	if st.IMDSv2Required != nil {
		s.v2Only = *st.IMDSv2Required
	}
	return nil
}

func (s *Server) control(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != ControlPath {
		http.NotFound(w, r)
		return
	}
	control.Endpoint(func() any { return s.State() }, s.Apply)(w, r)
}

// Client drives a metadata service's control API, in-process or in a
// container alike.
type Client struct {
	Base string       // the service's URL
	HTTP *http.Client // default http.DefaultClient
}

// State reads the behaviour and counters.
func (c *Client) State(ctx context.Context) (State, error) {
	var st State
	return st, c.do(ctx, http.MethodGet, nil, &st)
}

// Apply changes the behaviour; see Settings.
func (c *Client) Apply(ctx context.Context, st Settings) (State, error) {
	var out State
	return out, c.do(ctx, http.MethodPut, st, &out)
}

func (c *Client) do(ctx context.Context, method string, in, out any) error {
	return control.Client{Name: "imds", Base: c.Base, HTTP: c.HTTP}.Do(ctx, method, ControlPath, in, out)
}
