package imds

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials/ec2rolecreds"
	sdkimds "github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
)

// sdkProvider is the real aws-sdk-go-v2 instance-role provider pointed at s.
func sdkProvider(s *Server) *ec2rolecreds.Provider {
	return ec2rolecreds.New(func(o *ec2rolecreds.Options) {
		o.Client = sdkimds.New(sdkimds.Options{Endpoint: s.URL()})
	})
}

// within reports whether got is want give or take the whole-second rounding
// of Expiration plus some scheduling slack.
func within(got, want time.Time) bool {
	d := got.Sub(want)
	return d > -2*time.Second && d < 2*time.Second
}

func TestSDKFetchesCredentials(t *testing.T) {
	for _, v2 := range []bool{false, true} {
		name := map[bool]string{false: "IMDSv1 allowed", true: "IMDSv2 required"}[v2]
		t.Run(name, func(t *testing.T) {
			s := start(t, Config{TTL: 15 * time.Minute, IMDSv2Required: v2})
			creds, err := sdkProvider(s).Retrieve(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(creds.AccessKeyID, "ASIA") || creds.SessionToken == "" || !creds.CanExpire {
				t.Fatalf("credentials: %+v", creds)
			}
			if want := time.Now().Add(15 * time.Minute); !within(creds.Expires, want) {
				t.Fatalf("Expires %s, want now+15m = %s", creds.Expires, want)
			}
			calls := s.Calls()
			// The SDK always tries IMDSv2 first: one token, then role list
			// and document, both carrying the token.
			if calls[TokenPath] != 1 || calls[CredentialsPath] != 1 || calls[CredentialsPath+DefaultRole] != 1 {
				t.Fatalf("calls: %v", calls)
			}
			for _, c := range s.Log() {
				if c.Status != 200 || (c.Path != TokenPath && !c.Token) {
					t.Fatalf("call %+v: want 200 with a token", c)
				}
			}
		})
	}
}

// The Now hook issues credentials "as of" another moment: an SDK asking a
// service whose clock says ten minutes ago gets credentials with five minutes
// left, without anyone waiting ten minutes.
func TestSDKSeesLifetimeFromClock(t *testing.T) {
	c := &clock{t: time.Now().Add(-10 * time.Minute)}
	s := start(t, Config{TTL: 15 * time.Minute, Now: c.Now})
	creds, err := sdkProvider(s).Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Now().Add(5 * time.Minute); !within(creds.Expires, want) {
		t.Fatalf("Expires %s, want now+5m = %s", creds.Expires, want)
	}
}

// With v1 fallback disabled and no token possible, the SDK must fail rather
// than use IMDSv1; and an expired session token (401) makes it fetch a new one.
func TestSDKTokenRefreshOn401(t *testing.T) {
	c := &clock{t: time.Now()}
	s := start(t, Config{IMDSv2Required: true, Now: c.Now})
	p := sdkProvider(s)
	if _, err := p.Retrieve(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.Add(7 * time.Hour) // past the SDK's 21600 s token, by the service's clock
	if _, err := p.Retrieve(context.Background()); err != nil {
		t.Fatalf("after token expiry: %v", err)
	}
	calls := s.Calls()
	if calls[TokenPath] != 2 {
		t.Fatalf("token PUTs: %d, want 2 (the 401 makes the SDK fetch a new token): %v", calls[TokenPath], calls)
	}
	saw401 := false
	for _, l := range s.Log() {
		saw401 = saw401 || l.Status == 401
	}
	if !saw401 {
		t.Fatal("no 401 in the log")
	}
}

// Failures as the SDK sees them. Retries are limited to one attempt here:
// with its defaults the pinned SDK retries a 500 (token PUT included, 1 s
// backoff) until its 5 s operation timeout, which proves nothing more.
func TestSDKSeesFailures(t *testing.T) {
	s := start(t, Config{Fail: Fail500})
	oneShot := func() *ec2rolecreds.Provider {
		return ec2rolecreds.New(func(o *ec2rolecreds.Options) {
			o.Client = sdkimds.New(sdkimds.Options{Endpoint: s.URL(),
				Retryer: retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = 1 })})
		})
	}
	_, err := oneShot().Retrieve(context.Background())
	if err == nil || !strings.Contains(err.Error(), "StatusCode: 500") {
		t.Fatalf("fail=500: got %v", err)
	}
	if err := s.SetFail(FailHang); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	_, err = oneShot().Retrieve(context.Background())
	if err == nil || !strings.Contains(err.Error(), "timeout awaiting response headers") {
		t.Fatalf("fail=hang: got %v, want the SDK's response-header timeout", err)
	}
	// 500 ms response-header timeout, for the token PUT and then the GET.
	if took := time.Since(t0); took < 500*time.Millisecond {
		t.Fatalf("fail=hang: gave up after %s, before the SDK's 500ms timeout", took)
	}
	if err := s.SetFail(FailNone); err != nil {
		t.Fatal(err)
	}
	if _, err := sdkProvider(s).Retrieve(context.Background()); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

// The SDK's credentials cache over this service: 15-minute credentials are
// cached for their lifetime with the default ExpiryWindow of 0.
func TestSDKCacheCachesFifteenMinuteCredentials(t *testing.T) {
	s := start(t, Config{TTL: 15 * time.Minute})
	cache := aws.NewCredentialsCache(sdkProvider(s))
	for i := 0; i < 5; i++ {
		if _, err := cache.Retrieve(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.CredentialFetches(); n != 1 {
		t.Fatalf("credential documents fetched: %d, want 1", n)
	}
}
