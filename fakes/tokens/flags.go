package tokens

import (
	"flag"
	"fmt"
	"strings"
)

// RegisterFlags binds the issuer's flags to c.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:0", "address to listen on (loopback)")
	fs.StringVar(&c.Issuer, "issuer", "", "discovery document issuer (default: the server's URL)")
	fs.StringVar(&c.Key, "key", "", "iss claim = Kong jwt_secrets key (default: --issuer if set, else "+DefaultKey+")")
	fs.StringVar(&c.Alg, "alg", "", "signing algorithm: HS256|RS256 (default HS256)")
	fs.StringVar(&c.Secret, "secret", "", "HS256 secret, as Kong's jwt_secrets secret (default: random)")
	fs.DurationVar(&c.Lifetime, "lifetime", 0, "token lifetime, exp - iat; negative issues expired tokens (default 1h)")
	fs.Func("client", "client_credentials client ID:SECRET; repeatable (default "+DefaultClientID+":"+DefaultClientSecret+")", func(v string) error {
		id, secret, ok := strings.Cut(v, ":")
		if !ok || id == "" || secret == "" {
			return fmt.Errorf("want ID:SECRET, got %q", v)
		}
		if c.Clients == nil {
			c.Clients = map[string]string{}
		}
		c.Clients[id] = secret
		return nil
	})
}

// Args renders c back to the flags RegisterFlags reads: the docker backend
// runs `chaoslab fake tokens <Args()>` in a container. RSAKey and Now have
// no flag: a container generates its own key (read the public key from the
// control API) and uses the real clock.
func (c Config) Args() []string {
	listen := c.Listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	a := []string{"--listen", listen}
	for _, f := range []struct{ name, v string }{
		{"issuer", c.Issuer}, {"key", c.Key}, {"alg", c.Alg}, {"secret", c.Secret},
	} {
		if f.v != "" {
			a = append(a, "--"+f.name, f.v)
		}
	}
	if c.Lifetime != 0 {
		a = append(a, "--lifetime", c.Lifetime.String())
	}
	for _, id := range sortedIDs(c.Clients) {
		a = append(a, "--client", id+":"+c.Clients[id])
	}
	return a
}
