// Package app is the instrumented microservice of the seed incident
// ("latency x10 in Kubernetes versus EC2"): on every request it gets AWS
// credentials through the real aws-sdk-go-v2 (ec2rolecreds with a metadata
// client pointed at the lab's IMDS) and then calls a dependency (the
// "Elasticsearch"), answering with timing headers. The credential refresh
// rule is named and configurable (sdk, java-v1, botocore), so a scenario can
// show which rule turns 15-minute credentials into two metadata calls per
// request.
//
// Measured with the pinned aws-sdk-go-v2 (v1.48.0, credentials v1.20.16,
// feature/ec2/imds v1.20.8; see TestRefreshStormByRule), 20 requests with
// 15-minute credentials:
//
//	sdk, ExpiryWindow 0 (default)   1 credential fetch   no storm
//	sdk, ExpiryWindow 15m or 1h     1 fetch              no storm: ec2rolecreds'
//	    AdjustExpiresBy ignores the window for credentials expiring within 15 min
//	java-v1 (15 min threshold)      20 fetches           storm, 2 metadata calls per request
//	botocore (15/10 min, old)       20 fetches           storm
//	6 h credentials, every rule     1 fetch              (the fix)
//
// The pinned Go SDK can be made to storm only with credentials longer than
// 15 minutes and an ExpiryWindow at least as long as them (20m credentials,
// 25m window: 20 fetches). So the seed incident is reproduced with the
// java-v1 rule (the Java SDK v1 behaviour the incident describes); the sdk
// rule is the control that shows the Go SDK does not do it by itself. Real
// botocore does not storm any more either: 1.29.27 (Debian) and 1.43.11
// stretch IMDS credentials that expire within 17-25 minutes (1.29.27 in
// fakes/imds TestRealBotocore, 1.43.11 by hand with the same script), so
// the botocore rule models the older releases of kiam issue 270.
//
// When a refresh fails, the pinned SDK cache does not return the error:
// ec2rolecreds.HandleFailToRefresh hands back the previous credentials with
// Expires moved to now+5-15 minutes, whether they are still valid (the
// window asked for an early refresh) or already expired, and the cache does
// not try again until that passes, even if the metadata service is back.
// (Its "keep them unchanged when more than 5 minutes are left" branch cannot
// be reached through the cache, which only refreshes credentials it already
// considers expired.) The app checks each credential set against the
// Expiration the metadata service sent (read by a tap on the metadata
// client) and answers 502 ExpiredToken once it has passed, as AWS would; so
// errors begin at expiry, not before (TestRefreshFailureAfterExpiry,
// TestRefreshFailureWhileValid). InvalidateExpired makes the app drop such
// credentials so the next request tries the metadata service again.
//
// Running "credentials expired mid-run" in seconds: an IMDS TTL of 2-3 s
// (Expiration has whole seconds, so read the real expiry from
// X-Creds-Expiration), the sdk rule with IMDSMaxAttempts 1 (the SDK's
// default retries spend 5 s per request against a failing IMDS), fail the
// IMDS (PUT /__chaoslab/imds {"fail":"500"}) after the first request, and
// assert that 200s stop and 502s start at X-Creds-Expiration. The java-v1
// and botocore rules take scaled windows (ExpiryWindow, MandatoryWindow,
// RecheckAfter) for the same purpose; botocore's errors start
// MandatoryWindow before expiry.
package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials/ec2rolecreds"
)

// ControlPrefix is reserved for the app's own endpoints (stats, health);
// every other path is a request that fetches credentials and calls the
// dependency.
const ControlPrefix = "/__chaoslab/"

// Response headers, durations in milliseconds with microsecond decimals.
const (
	HeaderCredsDuration      = "X-Creds-Duration"
	HeaderCredsExpiration    = "X-Creds-Expiration" // RFC 3339, as the metadata service sent it
	HeaderDNSDuration        = "X-DNS-Duration"     // only with a Resolver
	HeaderDependencyDuration = "X-Dependency-Duration"
	HeaderDependencyStatus   = "X-Dependency-Status"
	HeaderRule               = "X-Creds-Rule"
)

// Stats counts what the app did.
type Stats struct {
	Requests int64 `json:"requests"`
	OK       int64 `json:"ok"`
	// CredentialFetches is the calls into the SDK provider; each one is a
	// role-name GET and a document GET at the metadata service.
	CredentialFetches  int64  `json:"credential_fetches"`
	RefreshFailures    int64  `json:"refresh_failures"`    // fetches that failed
	CredentialErrors   int64  `json:"credential_errors"`   // 502: no credentials
	ExpiredCredentials int64  `json:"expired_credentials"` // 502: handed expired credentials
	DependencyErrors   int64  `json:"dependency_errors"`   // 502: dependency failed
	MetadataCalls      int64  `json:"metadata_calls"`      // GetMetadata calls (tokens not included)
	LastRefreshError   string `json:"last_refresh_error,omitempty"`
}

// Server is a running app.
type Server struct {
	cfg      Config
	ln       net.Listener
	srv      *http.Server
	url      string
	creds    aws.CredentialsProvider
	cache    *aws.CredentialsCache // sdk rule only
	fetcher  *fetchCounter
	tap      *metadataTap
	imdsTr   *http.Transport
	depTr    *http.Transport
	dep      *http.Client
	depURL   *url.URL
	signer   *v4.Signer
	closeOne sync.Once
	closeErr error

	requests, ok, credErrors, expired, depErrors atomic.Int64
}

// Start listens and serves; the app is ready when Start returns. It does not
// fetch credentials until the first request, like a lazily initialised SDK.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	cfg = cfg.withDefaults()
	depURL, _ := url.Parse(cfg.DependencyURL)
	client, imdsTr := newIMDSClient(cfg.IMDSEndpoint, cfg.IMDSMaxAttempts)
	tap := &metadataTap{client: client}
	fetcher := &fetchCounter{p: ec2rolecreds.New(func(o *ec2rolecreds.Options) { o.Client = tap })}
	s := &Server{cfg: cfg, fetcher: fetcher, tap: tap, imdsTr: imdsTr, depURL: depURL, signer: v4.NewSigner()}
	switch cfg.Rule {
	case RuleSDK:
		s.cache = aws.NewCredentialsCache(fetcher, func(o *aws.CredentialsCacheOptions) {
			o.ExpiryWindow = cfg.ExpiryWindow
		})
		s.creds = s.cache
	case RuleJavaV1:
		s.creds = &javaV1{inner: fetcher, threshold: cfg.ExpiryWindow, after: cfg.RecheckAfter}
	case RuleBotocore:
		s.creds = &botocore{inner: fetcher, advisory: cfg.ExpiryWindow, mandatory: cfg.MandatoryWindow}
	}
	s.depTr = &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second}
	s.dep = &http.Client{Transport: s.depTr, Timeout: 30 * time.Second}

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Listen)
	if err != nil {
		imdsTr.CloseIdleConnections()
		return nil, fmt.Errorf("app: --listen %s: %w", cfg.Listen, err)
	}
	s.ln, s.url = ln, "http://"+ln.Addr().String()
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// URL is the app's base URL.
func (s *Server) URL() string { return s.url }

// Addr is host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Info is the start-up report (fakes.Server).
func (s *Server) Info() map[string]string {
	return map[string]string{
		"rule":       string(s.cfg.Rule) + ruleWindows(s.cfg),
		"imds":       s.cfg.IMDSEndpoint,
		"dependency": s.cfg.DependencyURL,
		"stats":      "curl " + s.url + ControlPrefix + "stats",
	}
}

func ruleWindows(c Config) string {
	switch c.Rule {
	case RuleJavaV1:
		return fmt.Sprintf(" (refresh within %s of expiry or after %s)", c.ExpiryWindow, c.RecheckAfter)
	case RuleBotocore:
		return fmt.Sprintf(" (advisory %s, mandatory %s)", c.ExpiryWindow, c.MandatoryWindow)
	}
	return fmt.Sprintf(" (aws.CredentialsCache ExpiryWindow %s)", c.ExpiryWindow)
}

// Close stops the app and releases its client connections. Idempotent.
func (s *Server) Close() error {
	s.closeOne.Do(func() {
		err := s.srv.Close()
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.imdsTr.CloseIdleConnections()
		s.depTr.CloseIdleConnections()
		s.closeErr = err
	})
	return s.closeErr
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	return Stats{
		Requests: s.requests.Load(), OK: s.ok.Load(),
		CredentialFetches: s.fetcher.fetches.Load(), RefreshFailures: s.fetcher.failures.Load(),
		CredentialErrors: s.credErrors.Load(), ExpiredCredentials: s.expired.Load(),
		DependencyErrors: s.depErrors.Load(), MetadataCalls: s.tap.calls.Load(),
		LastRefreshError: s.fetcher.lastError(),
	}
}

// Requests is the number of requests served (control calls excluded).
func (s *Server) Requests() int64 { return s.requests.Load() }

// CredentialFetches is the number of calls into the SDK's metadata provider.
func (s *Server) CredentialFetches() int64 { return s.fetcher.fetches.Load() }

// ServeHTTP gets credentials, calls the dependency and reports both timings.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, ControlPrefix) {
		s.control(w, r)
		return
	}
	s.requests.Add(1)
	h := w.Header()
	h.Set(HeaderRule, string(s.cfg.Rule))

	t0 := time.Now()
	creds, err := s.creds.Retrieve(r.Context())
	h.Set(HeaderCredsDuration, millis(time.Since(t0)))
	if err != nil {
		s.credErrors.Add(1)
		http.Error(w, "credentials: "+err.Error(), http.StatusBadGateway)
		return
	}
	exp, known := s.tap.expiry(creds.AccessKeyID)
	if !known {
		exp = creds.Expires
	}
	h.Set(HeaderCredsExpiration, exp.UTC().Format(time.RFC3339))
	if creds.CanExpire && !time.Now().Before(exp) {
		s.expired.Add(1)
		msg := fmt.Sprintf("credentials: ExpiredToken: the security token included in the request expired at %s", exp.UTC().Format(time.RFC3339))
		if last := s.fetcher.lastError(); last != "" {
			msg += "; the SDK handed it out after a failed refresh (" + last + ")"
		}
		if s.cfg.InvalidateExpired && s.cache != nil {
			s.cache.Invalidate()
		}
		http.Error(w, msg, http.StatusBadGateway)
		return
	}

	status, err := s.callDependency(r.Context(), h, creds)
	if err != nil {
		s.depErrors.Add(1)
		http.Error(w, "dependency: "+err.Error(), http.StatusBadGateway)
		return
	}
	h.Set(HeaderDependencyStatus, strconv.Itoa(status))
	if status >= 400 {
		s.depErrors.Add(1)
		http.Error(w, fmt.Sprintf("dependency: answered %d", status), http.StatusBadGateway)
		return
	}
	s.ok.Add(1)
	h.Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"rule": string(s.cfg.Rule), "access_key_id": creds.AccessKeyID,
		"creds_ms": h.Get(HeaderCredsDuration), "dependency_ms": h.Get(HeaderDependencyDuration)})
}

// emptyPayloadHash is SHA-256 of an empty body, for SigV4.
const emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// callDependency resolves (with the Resolver), signs with SigV4 (service
// "es", as for Amazon OpenSearch) and GETs the dependency.
func (s *Server) callDependency(ctx context.Context, h http.Header, creds aws.Credentials) (int, error) {
	target := *s.depURL
	host := target.Hostname()
	if s.cfg.Resolver != nil {
		t := time.Now()
		addrs, err := s.cfg.Resolver.LookupHost(ctx, host)
		h.Set(HeaderDNSDuration, millis(time.Since(t)))
		if err != nil {
			return 0, err
		}
		port := target.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[target.Scheme]
		}
		target.Host = net.JoinHostPort(addrs[0], port)
	}
	t := time.Now()
	defer func() { h.Set(HeaderDependencyDuration, millis(time.Since(t))) }()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target.String(), nil)
	if err != nil {
		return 0, err
	}
	req.Host = s.depURL.Host // the name, even when dialling a resolved address
	if err := s.signer.SignHTTP(ctx, creds, req, emptyPayloadHash, "es", "us-east-1", time.Now()); err != nil {
		return 0, err
	}
	resp, err := s.dep.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, nil
}

func (s *Server) control(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case ControlPrefix + "health":
		_, _ = io.WriteString(w, "ok\n")
	case ControlPrefix + "stats":
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.Stats())
	default:
		http.NotFound(w, r)
	}
}

func millis(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 3, 64)
}
