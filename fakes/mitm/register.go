package mitm

import (
	"context"
	"flag"
	"strings"

	"github.com/chaoslab/chaoslab/fakes"
)

var _ fakes.Server = (*Proxy)(nil)

// Fake names the fake Config configures (fakes.Config).
func (Config) Fake() string { return "mitm" }

func init() {
	fakes.RegisterConfig("HTTP forward proxy that inspects TLS with its own root CA, tunnels or bypasses per host",
		func(ctx context.Context, c Config) (*Proxy, error) {
			if err := c.Validate(); err != nil {
				return nil, err
			}
			// Standalone, the connection log is the trainee's view of
			// what the proxy did: print it.
			c.LogWriter = fakes.Stderr(ctx) // the CLI: the process stderr; embedded: the lab buffer
			return Start(ctx, c)
		})
}

// RegisterFlags binds the proxy's flags to c.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:0", "address to listen on (loopback)")
	fs.Func("mode", "inspect|tunnel: re-sign TLS with the proxy CA, or relay CONNECT untouched (default inspect)", func(v string) error {
		c.Mode = Mode(v)
		return nil
	})
	fs.Func("bypass", "host, host:port or *.domain to tunnel instead of inspect; repeatable or comma list", func(v string) error {
		for _, h := range strings.Split(v, ",") {
			if h = strings.TrimSpace(h); h != "" {
				c.Bypass = append(c.Bypass, h)
			}
		}
		return nil
	})
	fs.StringVar(&c.UpstreamCAFile, "upstream-ca", "", "PEM roots to verify servers with (default: system roots)")
	fs.StringVar(&c.ClientCertFile, "client-cert", "", "PEM client certificate the proxy presents upstream (two-hop mTLS)")
	fs.StringVar(&c.ClientKeyFile, "client-key", "", "PEM key for --client-cert")
	fs.StringVar(&c.Dir, "dir", "", "directory for the proxy root CA PEM (default: a temporary directory removed on exit)")
	fs.BoolVar(&c.AllowNonLoopback, "allow-non-loopback", false, "allow connections to servers off loopback (default: 127.0.0.0/8 and ::1 only)")
}
