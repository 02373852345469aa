package lb

import (
	"flag"
	"net/http"
	"strconv"
	"strings"
)

// registerMoreFlags binds the retry, re-framing and network flags.
func (c *Config) registerMoreFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.Retry.TryTimeout, "try-timeout", 0, "give up a try after this long without response headers (0: wait, no retries)")
	fs.IntVar(&c.Retry.Retries, "retries", 0, "send a timed-out request again this many times (needs --try-timeout)")
	fs.BoolVar(&c.Retry.RetryNonIdempotent, "retry-non-idempotent", false, "retry POST and PATCH too (the incident: the backend executes them twice)")
	fs.IntVar(&c.ReframeShort, "reframe-short", 0, "forward request bodies with a Content-Length this many bytes short (the incident: the rest poisons the connection)")
	fs.StringVar(&c.StripHeaders, "strip-headers", "", "drop these request headers (comma separated) on the way to the backend")
	fs.BoolVar(&c.AllowNonLoopback, "allow-non-loopback", false, "allow a backend off loopback (containerised labs on a bridge network)")
}

// moreArgs renders what registerMoreFlags reads.
func (c Config) moreArgs() []string {
	var a []string
	if c.Retry.TryTimeout != 0 {
		a = append(a, "--try-timeout", c.Retry.TryTimeout.String())
	}
	if c.Retry.Retries != 0 {
		a = append(a, "--retries", strconv.Itoa(c.Retry.Retries))
	}
	if c.Retry.RetryNonIdempotent {
		a = append(a, "--retry-non-idempotent")
	}
	if c.ReframeShort != 0 {
		a = append(a, "--reframe-short", strconv.Itoa(c.ReframeShort))
	}
	if c.StripHeaders != "" {
		a = append(a, "--strip-headers", c.StripHeaders)
	}
	if c.AllowNonLoopback {
		a = append(a, "--allow-non-loopback")
	}
	return a
}

// stripHeaders drops the named headers (comma separated): an LB profile
// that removes headers it does not know (or, like nginx by default, names
// with underscores).
func stripHeaders(h http.Header, names string) {
	for _, n := range strings.Split(names, ",") {
		if n = strings.TrimSpace(n); n != "" {
			h.Del(n)
		}
	}
}
