package kong

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/chaoslab/chaoslab/fakes"

	"github.com/chaoslab/chaoslab/fakes/kong/internal/config"
)

// CLIConfig is the gateway as the CLI and the docker backend start it:
// `chaoslab fake gateway --config kong.yml ...` (see Args).
type CLIConfig struct {
	ConfigPath  string
	Listen      string              // default 127.0.0.1:0
	AdminListen string              // default 127.0.0.1:0
	Hosts       map[string][]string // static name -> addresses
	DNS         string              // resolve other names via this loopback DNS server
	// AllowNonLoopback lets a containerised gateway reach upstreams off
	// loopback.
	AllowNonLoopback bool
	TrustedIPs       string // kong.conf trusted_ips: IPs and CIDRs, comma separated
}

// RegisterFlags binds c to fs.
func (c *CLIConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.ConfigPath, "config", "", "Kong declarative config (kong.yml, _format_version \"3.0\"); required")
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:0", "proxy listen address")
	fs.StringVar(&c.AdminListen, "admin-listen", "127.0.0.1:0", "Admin API listen address")
	fs.Func("hosts", "static name resolution name=ip,name=ip (repeatable)", func(v string) error {
		if c.Hosts == nil {
			c.Hosts = map[string][]string{}
		}
		for _, kv := range strings.Split(v, ",") {
			if kv == "" {
				continue
			}
			name, ip, ok := strings.Cut(kv, "=")
			if !ok || name == "" || ip == "" {
				return fmt.Errorf("want name=ip, got %q", kv)
			}
			name = strings.ToLower(name)
			c.Hosts[name] = append(c.Hosts[name], ip)
		}
		return nil
	})
	fs.StringVar(&c.DNS, "dns", "", "resolve names not in --hosts via this DNS server (loopback IP:PORT)")
	fs.BoolVar(&c.AllowNonLoopback, "allow-non-loopback", false, "allow upstream connections off loopback (containerised labs)")
	fs.StringVar(&c.TrustedIPs, "trusted-ips", "", "kong.conf trusted_ips: peers whose X-Forwarded-* headers are believed (IPs, CIDRs, comma separated)")
}

// Args renders c back to flags. Both listen addresses are always there: the
// docker backend rewrites 127.0.0.1:0 ones to published container ports.
func (c CLIConfig) Args() []string {
	args := []string{"--config", c.ConfigPath, "--listen", cmp.Or(c.Listen, "127.0.0.1:0"),
		"--admin-listen", cmp.Or(c.AdminListen, "127.0.0.1:0")}
	if len(c.Hosts) > 0 {
		names := make([]string, 0, len(c.Hosts))
		for n := range c.Hosts {
			names = append(names, n)
		}
		sort.Strings(names)
		var kvs []string
		for _, n := range names {
			for _, ip := range c.Hosts[n] {
				kvs = append(kvs, n+"="+ip)
			}
		}
		args = append(args, "--hosts", strings.Join(kvs, ","))
	}
	if c.DNS != "" {
		args = append(args, "--dns", c.DNS)
	}
	if c.AllowNonLoopback {
		args = append(args, "--allow-non-loopback")
	}
	if c.TrustedIPs != "" {
		args = append(args, "--trusted-ips", c.TrustedIPs)
	}
	return args
}

// Options reads the config file and builds the resolver.
func (c CLIConfig) Options() (Options, error) {
	if c.ConfigPath == "" {
		return Options{}, errors.New("--config: required (path to kong.yml)")
	}
	b, err := os.ReadFile(c.ConfigPath)
	if err != nil {
		return Options{}, fmt.Errorf("--config: %v", err)
	}
	o := Options{ProxyListen: c.Listen, AdminListen: c.AdminListen, Config: b, AllowNonLoopback: c.AllowNonLoopback}
	if c.TrustedIPs != "" {
		o.TrustedIPs = []string{c.TrustedIPs}
	}
	static := staticResolver{}
	for n, ips := range c.Hosts {
		static[n] = ips
	}
	o.resolver = static
	if c.DNS != "" {
		d, err := newDNSResolver(c.DNS)
		if err != nil {
			return Options{}, fmt.Errorf("--dns: %v", err)
		}
		o.resolver = chainResolver{static, d}
	}
	return o, nil
}

// chainResolver answers from the static table first, then from DNS.
type chainResolver struct {
	static staticResolver
	dns    *dnsResolver
}

func (c chainResolver) LookupHost(ctx context.Context, host string) ([]string, error) {
	addrs, _, err := c.LookupHostTTL(ctx, host)
	return addrs, err
}

func (c chainResolver) LookupHostTTL(ctx context.Context, host string) ([]string, time.Duration, error) {
	if addrs, err := c.static.LookupHost(ctx, host); err == nil {
		return addrs, 0, nil
	}
	return c.dns.LookupHostTTL(ctx, host)
}

// Fake names the fake CLIConfig configures (fakes.Config).
func (CLIConfig) Fake() string { return "gateway" }

func init() {
	fakes.RegisterConfig("Kong 3.9 DB-less emulation (kong.yml): proxy, error mapping, plugins, health checks, Admin API",
		func(ctx context.Context, c CLIConfig) (*Gateway, error) {
			o, err := c.Options()
			if err != nil {
				return nil, err
			}
			// The CLI passes the process streams, the embedded backend its buffers.
			o.ErrorLog, o.AccessLog = fakes.Stderr(ctx), fakes.Stdout(ctx)
			g, err := Start(ctx, o)
			if err != nil {
				var ce *config.Error
				if errors.As(err, &ce) {
					return nil, fmt.Errorf("--config %s: %w", c.ConfigPath, err)
				}
				return nil, err
			}
			return g, nil
		})
}
