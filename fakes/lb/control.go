package lb

import (
	"github.com/chaoslab/chaoslab/fakes/control"

	"net/http"
)

// Settings is the body of PUT /__chaoslab/lb. Absent fields are left as
// they are, so {"strip_authorization":false} only applies the fix.
type Settings struct {
	StripAuthorization *bool   `json:"strip_authorization,omitempty"`
	Host               *string `json:"host,omitempty"` // "" restores pass-through
	XFF                *string `json:"xff,omitempty"`
	XFP                *string `json:"xfp,omitempty"`
	Retry              *Retry  `json:"retry,omitempty"`         // replaces the whole retry policy
	ReframeShort       *int    `json:"reframe_short,omitempty"` // 0 passes bodies through
	StripHeaders       *string `json:"strip_headers,omitempty"` // "" strips none
}

// Stats are the hop's counters. Control calls are not counted.
type Stats struct {
	Requests              int64 `json:"requests"`
	AuthorizationSeen     int64 `json:"authorization_seen"`     // requests that arrived with Authorization
	AuthorizationStripped int64 `json:"authorization_stripped"` // of those, dropped before the backend
	BackendErrors         int64 `json:"backend_errors"`         // answered 502 (504 after timed-out tries) by the hop
	extraStats
}

// State is the answer of GET and PUT /__chaoslab/lb.
type State struct {
	Backend string `json:"backend"`
	Policy
	Stats
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	return Stats{Requests: s.requests.Load(), AuthorizationSeen: s.authSeen.Load(),
		AuthorizationStripped: s.authStripped.Load(), BackendErrors: s.backendErrors.Load(),
		extraStats: s.extra.snapshot()}
}

// State is the policy and the counters.
func (s *Server) State() State {
	return State{Backend: s.backend.String(), Policy: s.Policy(), Stats: s.Stats()}
}

// Apply changes what st names, all or nothing.
func (s *Server) Apply(st Settings) error {
	p := s.Policy()
	if st.StripAuthorization != nil {
		p.StripAuthorization = *st.StripAuthorization
	}
	if st.Host != nil {
		p.Host = *st.Host
	}
	if st.XFF != nil {
		p.XFF = *st.XFF
	}
	if st.XFP != nil {
		p.XFP = *st.XFP
	}
	if st.Retry != nil {
		p.Retry = *st.Retry
	}
	if st.ReframeShort != nil {
		p.ReframeShort = *st.ReframeShort
	}
	if st.StripHeaders != nil {
		p.StripHeaders = *st.StripHeaders
	}
	return s.SetPolicy(p)
}

func (s *Server) control(w http.ResponseWriter, r *http.Request) {
	control.Endpoint(func() any { return s.State() }, s.Apply)(w, r)
}
