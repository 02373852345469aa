package app

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/chaoslab/chaoslab/fakes/dns"
)

// RegisterFlags binds the app's flags to c. Any --dns-* flag gives the app
// a Resolver (which then needs --dns-server).
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:0", "address to listen on (loopback)")
	fs.StringVar(&c.IMDSEndpoint, "imds", "", "metadata service URL (the fake IMDS); required")
	fs.StringVar(&c.DependencyURL, "dependency", "", "URL called on every request; required")
	fs.Func("rule", "credential refresh rule: sdk|java-v1|botocore (default sdk)", func(v string) error {
		c.Rule = Rule(v)
		return Config{Rule: c.Rule, IMDSEndpoint: "http://x", DependencyURL: "http://x"}.Validate()
	})
	fs.DurationVar(&c.ExpiryWindow, "expiry-window", 0, "refresh this long before expiry (0: the rule's default: sdk 0, java-v1 15m, botocore 15m)")
	fs.DurationVar(&c.MandatoryWindow, "mandatory-window", 0, "botocore's mandatory refresh window (0: 10m)")
	fs.DurationVar(&c.RecheckAfter, "recheck-after", 0, "java-v1's refresh threshold (0: 60m)")
	fs.IntVar(&c.IMDSMaxAttempts, "imds-max-attempts", 0, "SDK attempts per metadata call (0: SDK default, 3)")
	fs.BoolVar(&c.InvalidateExpired, "invalidate-expired", false, "drop the SDK cache's credentials once they are found expired")
	fs.Func("dns-server", "resolve the dependency through this lab DNS (loopback host:port)", func(v string) error {
		c.resolver().Server = v
		return nil
	})
	fs.Func("dns-search", "comma-separated search domains", func(v string) error {
		c.resolver().Search = strings.Split(v, ",")
		return nil
	})
	fs.Func("ndots", "resolv.conf ndots (default 1)", func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("want a non-negative integer, got %q", v)
		}
		c.resolver().Ndots = n
		return nil
	})
	fs.Func("dns-timeout", "per-query timeout (default 1s)", func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return fmt.Errorf("want a non-negative duration, got %q", v)
		}
		c.resolver().Timeout = d
		return nil
	})
	fs.BoolFunc("dns-ipv4-only", "ask A only (default A and AAAA, like getaddrinfo)", func(v string) error {
		b, err := strconv.ParseBool(v)
		c.resolver().IPv4Only = b
		return err
	})
}

func (c *Config) resolver() *dns.Resolver {
	if c.Resolver == nil {
		c.Resolver = &dns.Resolver{}
	}
	return c.Resolver
}

// Args renders c back to the flags RegisterFlags reads: the docker backend
// runs `chaoslab fake app <Args()>` in a container.
func (c Config) Args() []string {
	listen := c.Listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	a := []string{"--listen", listen, "--imds", c.IMDSEndpoint, "--dependency", c.DependencyURL}
	if c.Rule != "" {
		a = append(a, "--rule", string(c.Rule))
	}
	dur := func(flag string, d time.Duration) {
		if d != 0 {
			a = append(a, flag, d.String())
		}
	}
	dur("--expiry-window", c.ExpiryWindow)
	dur("--mandatory-window", c.MandatoryWindow)
	dur("--recheck-after", c.RecheckAfter)
	if c.IMDSMaxAttempts != 0 {
		a = append(a, "--imds-max-attempts", strconv.Itoa(c.IMDSMaxAttempts))
	}
	if c.InvalidateExpired {
		a = append(a, "--invalidate-expired")
	}
	if r := c.Resolver; r != nil {
		a = append(a, "--dns-server", r.Server)
		if len(r.Search) > 0 {
			a = append(a, "--dns-search", strings.Join(r.Search, ","))
		}
		if r.Ndots != 0 {
			a = append(a, "--ndots", strconv.Itoa(r.Ndots))
		}
		dur("--dns-timeout", r.Timeout)
		if r.IPv4Only {
			a = append(a, "--dns-ipv4-only")
		}
	}
	return a
}
