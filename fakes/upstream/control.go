package upstream

import (
	"github.com/chaoslab/chaoslab/fakes/control"

	"encoding/json"
	"io"
	"log"
	"net/http"
	"strconv"
	"strings"
)

// ControlState is the document the control API reads and writes:
// GET/PUT /__chaoslab/behaviour. The lab drives an upstream through it on
// every backend, so an upstream in a container is steered like one in-process.
type ControlState struct {
	Default Behaviour            `json:"default"`
	Rules   map[string]Behaviour `json:"rules,omitempty"`
}

func (s *Server) control(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case ControlPrefix + "health":
		// body_size lets the lab's probes ask for a large body through a
		// bandwidth or limit_data fault without counting as traffic.
		n, _ := strconv.Atoi(r.URL.Query().Get("body_size"))
		w.Header().Set("Content-Length", strconv.Itoa(3+max(n-3, 0)))
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "ok\n"+strings.Repeat("x", max(n-3, 0)))
	case ControlPrefix + "stats":
		control.WriteJSON(w, http.StatusOK, s.Stats())
	case ControlPrefix + "behaviour":
		switch r.Method {
		case http.MethodGet:
			control.WriteJSON(w, http.StatusOK, s.state())
		case http.MethodPut:
			var st ControlState
			dec := json.NewDecoder(r.Body)
			dec.DisallowUnknownFields()
			if err := dec.Decode(&st); err != nil {
				control.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "body: " + err.Error()})
				return
			}
			if err := s.replace(st); err != nil {
				control.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
				return
			}
			control.WriteJSON(w, http.StatusOK, s.state())
		default:
			w.Header().Set("Allow", "GET, PUT")
			w.WriteHeader(http.StatusMethodNotAllowed)
		}
	default:
		http.NotFound(w, r)
	}
}

func (s *Server) state() ControlState {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := ControlState{Default: s.def, Rules: map[string]Behaviour{}}
	for _, k := range sortedKeys(s.rules) {
		st.Rules[k] = s.rules[k]
	}
	return st
}

func (s *Server) replace(st ControlState) error {
	if err := st.Default.Validate(); err != nil {
		return err
	}
	for p, b := range st.Rules {
		if err := b.Validate(); err != nil {
			return err
		}
		_ = p
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.def = st.Default
	s.rules = map[string]Behaviour{}
	for p, b := range st.Rules {
		s.rules[p] = b
	}
	return nil
}

func nullLogger() *log.Logger { return log.New(io.Discard, "", 0) }
