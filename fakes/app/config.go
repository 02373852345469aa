package app

import (
	"fmt"
	"net/url"
	"time"

	"github.com/chaoslab/chaoslab/fakes/dns"
)

// Rule names the credential refresh rule the app runs.
type Rule string

const (
	// RuleSDK is aws-sdk-go-v2 as pinned: ec2rolecreds in an
	// aws.CredentialsCache with ExpiryWindow (default 0).
	RuleSDK Rule = "sdk"
	// RuleJavaV1 models the AWS SDK for Java v1 (EC2CredentialsFetcher):
	// refresh when the credentials expire within ExpiryWindow (its
	// EXPIRATION_THRESHOLD, 15 min) or the last fetch is older than
	// RecheckAfter (REFRESH_THRESHOLD, 60 min), inside a synchronized fetch.
	RuleJavaV1 Rule = "java-v1"
	// RuleBotocore models botocore's RefreshableCredentials before its IMDS
	// expiration extension (kiam issue 270): advisory refresh within
	// ExpiryWindow (15 min), mandatory within MandatoryWindow (10 min).
	RuleBotocore Rule = "botocore"
)

// Defaults of the rules' windows, as the real SDKs have them.
const (
	JavaV1ExpirationThreshold = 15 * time.Minute
	JavaV1RefreshThreshold    = 60 * time.Minute
	BotocoreAdvisoryTimeout   = 15 * time.Minute
	BotocoreMandatoryTimeout  = 10 * time.Minute
)

// Config is the app's start-up configuration.
type Config struct {
	Listen        string // default 127.0.0.1:0
	IMDSEndpoint  string // the metadata service's URL (the fake IMDS); required
	DependencyURL string // called on every request (the "Elasticsearch"); required
	Rule          Rule   // default sdk
	// ExpiryWindow is how long before expiry the rule refreshes; 0 means the
	// rule's default: sdk 0 (aws.CredentialsCacheOptions.ExpiryWindow),
	// java-v1 15m, botocore 15m (advisory). Scenarios shrink it with the
	// credential lifetime (2s credentials, 1s window) to run in seconds.
	ExpiryWindow time.Duration
	// MandatoryWindow is botocore's mandatory refresh window; 0 means 10m.
	MandatoryWindow time.Duration
	// RecheckAfter is java-v1's refresh threshold; 0 means 60m.
	RecheckAfter time.Duration
	// IMDSMaxAttempts is the attempts the SDK's retryer makes per metadata
	// call; 0 keeps the SDK's default (3, with up to 1 s backoff, which
	// against a failing IMDS spends the SDK's whole 5 s operation timeout).
	// Scenarios that fail the IMDS set 1 to keep each request short.
	IMDSMaxAttempts int
	// InvalidateExpired makes the app drop the SDK cache's credentials when
	// they turn out to be expired, so the next request tries a refresh. The
	// pinned SDK never does this itself: after a failed refresh it extends
	// expired credentials by 5-15 minutes and keeps handing them out.
	InvalidateExpired bool
	// Resolver, when set, resolves the dependency's host name through the
	// lab DNS on every request (the search list and ndots cost shows up in
	// X-DNS-Duration); nil dials the URL's host as Go does.
	Resolver *dns.Resolver
}

func (c Config) withDefaults() Config {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:0"
	}
	if c.Rule == "" {
		c.Rule = RuleSDK
	}
	switch c.Rule {
	case RuleJavaV1:
		c.ExpiryWindow = orDur(c.ExpiryWindow, JavaV1ExpirationThreshold)
		c.RecheckAfter = orDur(c.RecheckAfter, JavaV1RefreshThreshold)
	case RuleBotocore:
		c.ExpiryWindow = orDur(c.ExpiryWindow, BotocoreAdvisoryTimeout)
		c.MandatoryWindow = orDur(c.MandatoryWindow, BotocoreMandatoryTimeout)
	}
	return c
}

func orDur(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Validate reports the first bad field as a one-line error naming its flag.
func (c Config) Validate() error {
	switch c.Rule {
	case "", RuleSDK, RuleJavaV1, RuleBotocore:
	default:
		return fmt.Errorf("--rule: must be one of sdk|java-v1|botocore, got %q", string(c.Rule))
	}
	if err := checkURL("--imds", c.IMDSEndpoint); err != nil {
		return err
	}
	if err := checkURL("--dependency", c.DependencyURL); err != nil {
		return err
	}
	for flag, d := range map[string]time.Duration{"--expiry-window": c.ExpiryWindow,
		"--mandatory-window": c.MandatoryWindow, "--recheck-after": c.RecheckAfter} {
		if d < 0 {
			return fmt.Errorf("%s: must not be negative, got %s", flag, d)
		}
	}
	if c.IMDSMaxAttempts < 0 {
		return fmt.Errorf("--imds-max-attempts: must not be negative, got %d", c.IMDSMaxAttempts)
	}
	if c.Resolver != nil && c.Resolver.Server == "" {
		return fmt.Errorf("--dns-server: required when a resolver is configured")
	}
	return nil
}

func checkURL(flag, raw string) error {
	if raw == "" {
		return fmt.Errorf("%s: required", flag)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s: want an http(s) URL, got %q", flag, raw)
	}
	return nil
}
