package lb

import "flag"

// RegisterFlags binds the load balancer's flags to c.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:0", "address to listen on (loopback)")
	fs.StringVar(&c.Backend, "backend", "", "where to forward: http://127.0.0.1:PORT (loopback only; required)")
	c.registerBackendsFlag(fs)
	fs.BoolVar(&c.StripAuthorization, "strip-authorization", false, "drop the Authorization header on the way to the backend")
	fs.StringVar(&c.Host, "host", "", "rewrite the Host header to this (default: keep the client's)")
	fs.StringVar(&c.XFF, "xff", "", "X-Forwarded-For: append|overwrite|none (default append)")
	fs.StringVar(&c.XFP, "xfp", "", "X-Forwarded-Proto: http|https|none (default none: pass the client's through)")
	c.registerMoreFlags(fs) // flags_more.go
}

// Args renders c back to the flags RegisterFlags reads: the docker backend
// runs `chaoslab fake lb <Args()>` in a container.
func (c Config) Args() []string {
	listen := c.Listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	a := []string{"--listen", listen, "--backend", c.Backend}
	a = append(a, c.backendsArgs()...)
	if c.StripAuthorization {
		a = append(a, "--strip-authorization")
	}
	if c.Host != "" {
		a = append(a, "--host", c.Host)
	}
	if c.XFF != "" {
		a = append(a, "--xff", c.XFF)
	}
	if c.XFP != "" {
		a = append(a, "--xfp", c.XFP)
	}
	return append(a, c.moreArgs()...)
}
