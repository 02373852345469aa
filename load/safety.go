package load

import (
	"fmt"
	"net/url"
	"time"

	"github.com/chaoslab/chaoslab/internal/loopback"
)

// checkTarget refuses anything that is not loopback unless allowed: a lab
// must never send load to a machine it does not own.
func (c *config) checkTarget(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("target %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("target %q: scheme must be http or https", raw)
	}
	return c.checkHost(u.Hostname(), "target "+raw)
}

func (c *config) checkHost(host, what string) error {
	if c.allowHosts[host] || loopback.Host(host) {
		return nil
	}
	return fmt.Errorf("%s: host %q is not loopback; lab load goes only to 127.0.0.0/8, ::1 or localhost (allow a host explicitly with WithAllowHost)", what, host)
}

func (c *config) checkBounds(p Pacer, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("duration must be positive, got %s (an attack always ends by itself)", d)
	}
	if c.maxDuration > 0 && d > c.maxDuration {
		return fmt.Errorf("duration %s is over the cap of %s (raise it with WithMaxDuration)", d, c.maxDuration)
	}
	if r := p.MaxRate(d); c.maxRate > 0 && r > c.maxRate {
		return fmt.Errorf("rate %g/s is over the cap of %g/s (raise it with WithMaxRate)", r, c.maxRate)
	}
	if r := p.MaxRate(d); r <= 0 {
		return fmt.Errorf("rate must be positive, got %g/s", r)
	}
	return nil
}
