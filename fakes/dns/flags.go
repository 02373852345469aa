package dns

import (
	"flag"
	"fmt"
	"sort"
	"strings"
)

// RegisterFlags binds the server's flags to c.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:0", "address to listen on, UDP and TCP (loopback)")
	fs.DurationVar(&c.Latency, "latency", 0, "delay before every answer")
	fs.Func("record", "NAME=IP[,IP...]: addresses of a name (A for IPv4, AAAA for IPv6); repeatable", func(v string) error {
		name, ips, ok := strings.Cut(v, "=")
		if !ok || ips == "" {
			return fmt.Errorf("want NAME=IP[,IP...], got %q", v)
		}
		list := strings.Split(ips, ",")
		if err := validRecord(name, list); err != nil {
			return err
		}
		if c.Records == nil {
			c.Records = map[string][]string{}
		}
		c.Records[name] = append(c.Records[name], list...)
		return nil
	})
}

// Args renders c back to the flags RegisterFlags reads: the docker backend
// runs `chaoslab fake dns <Args()>` in a container.
func (c Config) Args() []string {
	listen := c.Listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	a := []string{"--listen", listen}
	if c.Latency != 0 {
		a = append(a, "--latency", c.Latency.String())
	}
	names := make([]string, 0, len(c.Records))
	for n := range c.Records {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		a = append(a, "--record", n+"="+strings.Join(c.Records[n], ","))
	}
	return a
}
