package imds

import "flag"

// RegisterFlags binds the service's flags to c.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:0", "address to listen on (loopback)")
	fs.DurationVar(&c.TTL, "ttl", DefaultTTL, "lifetime of each credential set (EC2: ~6h; KIAM/kube2iam: 15m)")
	fs.DurationVar(&c.Latency, "latency", 0, "delay added to every metadata call")
	fs.StringVar(&c.Role, "role", DefaultRole, "instance role name")
	fs.BoolVar(&c.IMDSv2Required, "imdsv2-required", false, "answer 401 to GETs without a valid session token")
	fs.Func("fail", "injected failure: none|500|hang", func(v string) error {
		c.Fail = FailMode(v)
		return c.Fail.Validate()
	})
}

// Args renders c back to the flags RegisterFlags reads: the docker backend
// runs `chaoslab fake imds <Args()>` in a container.
func (c Config) Args() []string {
	d := c.withDefaults()
	a := []string{"--listen", d.Listen, "--ttl", d.TTL.String(), "--role", d.Role}
	if c.Latency != 0 {
		a = append(a, "--latency", c.Latency.String())
	}
	if c.IMDSv2Required {
		a = append(a, "--imdsv2-required")
	}
	if c.Fail != "" && c.Fail != FailNone {
		a = append(a, "--fail", string(c.Fail))
	}
	return a
}
