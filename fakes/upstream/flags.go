package upstream

import (
	"flag"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// RegisterFlags binds the upstream's flags to c, TLS included.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.TLSFlags.Register(fs)
	fs.StringVar(&c.CertDir, "cert-dir", "", "where --tls writes its certificates (default: a temp dir removed on exit)")
	fs.StringVar(&c.Name, "name", "upstream", "name reported in X-Upstream-Name")
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:0", "address to listen on (loopback)")
	fs.DurationVar(&c.Default.Latency, "latency", 0, "delay before the response headers (CPU burnt per request included)")
	fs.DurationVar(&c.Default.Jitter, "jitter", 0, "uniform random extra delay, 0..jitter")
	fs.IntVar(&c.Default.Status, "status", 200, "response status")
	fs.IntVar(&c.Default.BodySize, "body-size", 0, "pad the body to at least this many bytes")
	fs.DurationVar(&c.Default.SlowBody, "slow-body", 0, "spread the body over this long")
	fs.DurationVar(&c.Default.CPU, "cpu", 0, "busy CPU time per request")
	fs.DurationVar(&c.Default.CPUPerRequest, "cpu-per-request", 0, "CPU time (thread CPU, not wall time) burnt per request")
	fs.Func("workers", "serve at most this many requests at once, the others wait in line (0: no limit; rules have their own)", func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return err
		}
		c.Default.Workers = n
		return c.Default.Validate()
	})
	fs.Func("mode", "normal|close|reset|malformed|hang", func(v string) error {
		c.Default.Mode = Mode(v)
		return c.Default.Validate()
	})
	fs.Func("require-header", "NAME=VALUE: answer the upstream's own 401 unless the request carries this header with this value", func(v string) error {
		cred, err := parseCredential(v)
		c.Require = cred
		return err
	})
	fs.Func("rule", "per-path behaviour PREFIX:key=value,... (keys: latency, jitter, status, body_size, slow_body, cpu, mode, workers); repeatable", func(v string) error {
		prefix, b, err := parseRule(v)
		if err != nil {
			return err
		}
		if c.Rules == nil {
			c.Rules = map[string]Behaviour{}
		}
		c.Rules[prefix] = b
		return nil
	})
}

// parseRule reads "PREFIX:key=value,key=value".
func parseRule(v string) (string, Behaviour, error) {
	prefix, kvs, ok := strings.Cut(v, ":")
	if !ok || !strings.HasPrefix(prefix, "/") {
		return "", Behaviour{}, fmt.Errorf("want PREFIX:key=value,... with PREFIX starting with /, got %q", v)
	}
	q := map[string][]string{}
	workers := 0
	for _, kv := range strings.Split(kvs, ",") {
		if kv == "" {
			continue
		}
		k, val, ok := strings.Cut(kv, "=")
		if !ok {
			return "", Behaviour{}, fmt.Errorf("rule %q: %q is not key=value", v, kv)
		}
		switch k {
		case "latency", "jitter", "status", "body_size", "slow_body", "cpu", "mode":
		case "workers": // not a query parameter: a request cannot change the pool it waits for
			n, err := strconv.Atoi(val)
			if err != nil {
				return "", Behaviour{}, fmt.Errorf("rule %q: workers: %v", v, err)
			}
			workers = n
			continue
		default:
			return "", Behaviour{}, fmt.Errorf("rule %q: unknown key %q", v, k)
		}
		q[k] = []string{val}
	}
	b, err := Behaviour{Workers: workers}.override(q)
	if err != nil {
		return "", Behaviour{}, fmt.Errorf("rule %q: %w", v, err)
	}
	return prefix, b, nil
}

// Args renders c back to the flags RegisterFlags reads: the docker backend
// runs `chaoslab fake upstream <Args()>` in a container.
func (c Config) Args() []string {
	a := []string{"--name", c.Name, "--listen", orDefault(c.Listen, "127.0.0.1:0")}
	a = append(a, c.TLSFlags.Args()...)
	if c.CertDir != "" {
		a = append(a, "--cert-dir", c.CertDir)
	}
	if c.Require != nil {
		a = append(a, "--require-header", c.Require.String())
	}
	a = append(a, behaviourArgs(c.Default)...)
	keys := make([]string, 0, len(c.Rules))
	for k := range c.Rules {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		a = append(a, "--rule", k+":"+ruleString(c.Rules[k]))
	}
	return a
}

func behaviourArgs(b Behaviour) []string {
	var a []string
	d := func(flag string, v time.Duration) {
		if v != 0 {
			a = append(a, "--"+flag, v.String())
		}
	}
	d("latency", b.Latency)
	d("jitter", b.Jitter)
	d("slow-body", b.SlowBody)
	d("cpu", b.CPU)
	d("cpu-per-request", b.CPUPerRequest)
	if b.Status != 0 {
		a = append(a, "--status", fmt.Sprint(b.Status))
	}
	if b.BodySize != 0 {
		a = append(a, "--body-size", fmt.Sprint(b.BodySize))
	}
	if b.Mode != "" {
		a = append(a, "--mode", string(b.Mode))
	}
	if b.Workers != 0 {
		a = append(a, "--workers", fmt.Sprint(b.Workers))
	}
	return a
}

func ruleString(b Behaviour) string {
	var kv []string
	add := func(k, v string) { kv = append(kv, k+"="+v) }
	if b.Latency != 0 {
		add("latency", b.Latency.String())
	}
	if b.Jitter != 0 {
		add("jitter", b.Jitter.String())
	}
	if b.Status != 0 {
		add("status", fmt.Sprint(b.Status))
	}
	if b.BodySize != 0 {
		add("body_size", fmt.Sprint(b.BodySize))
	}
	if b.SlowBody != 0 {
		add("slow_body", b.SlowBody.String())
	}
	if b.CPU != 0 {
		add("cpu", b.CPU.String())
	}
	if b.Mode != "" {
		add("mode", string(b.Mode))
	}
	if b.Workers != 0 {
		add("workers", fmt.Sprint(b.Workers))
	}
	return strings.Join(kv, ",")
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
