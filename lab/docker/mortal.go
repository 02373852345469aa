package docker

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/chaoslab/chaoslab/lab"
)

// Exited reports whether the container has stopped (crashed, killed, its
// process exited) and how, from the daemon's view of it; the lab's death
// watch asks it.
func (s *dockerService) Exited() (string, bool) {
	if s.c == nil {
		return "", false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := s.c.State(ctx)
	if err != nil {
		if strings.Contains(strings.ToLower(err.Error()), "no such container") {
			return "container " + s.name + " is gone", true
		}
		return "", false // the daemon did not answer this time: ask again
	}
	if st.Running {
		return "", false
	}
	how := fmt.Sprintf("container %s %s (exit code %d)", s.name, st.Status, st.ExitCode)
	if st.OOMKilled {
		how += ", killed by the OOM killer"
	}
	return how, true
}

// Kill stops the container at once (docker stop -t 0: SIGTERM then SIGKILL
// without grace); Close still removes it.
func (s *dockerService) Kill() error {
	if s.c == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	zero := time.Duration(0)
	return s.c.Stop(ctx, &zero)
}

// ToxiproxyMortal is the toxiproxy container, for the lab's death watch.
func (d *docker) ToxiproxyMortal() lab.Mortal {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, s := range d.services {
		if strings.Contains(s.name, "-toxiproxy-") {
			return s
		}
	}
	return nil
}
