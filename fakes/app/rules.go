package app

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// The two models below are thin wrappers around the real SDK provider
// (ec2rolecreds, which does the metadata calls): they decide when to call it
// the way the other SDKs decide, and are themselves the cache, as those
// SDKs' providers are. They are not put inside aws.CredentialsCache, whose
// singleflight would merge the concurrent fetches Java serialises.

// javaV1 models the AWS SDK for Java v1's EC2CredentialsFetcher:
//
//	getCredentials(): if (needsToLoadCredentials()) fetchCredentials();
//	                  if (expired()) throw "The credentials received have been expired"
//	needsToLoadCredentials(): no credentials, or they expire within
//	                  EXPIRATION_THRESHOLD (15 min), or the last fetch is older
//	                  than REFRESH_THRESHOLD (60 min)
//	synchronized fetchCredentials(): re-check, fetch; on error keep the old
//	                  credentials unless there are none or they are expired,
//	                  then throw "Unable to load credentials from service endpoint"
//
// With 15-minute credentials needsToLoadCredentials() is true on every call,
// so every request fetches, one at a time.
type javaV1 struct {
	inner            aws.CredentialsProvider
	threshold, after time.Duration
	mu               sync.Mutex // the synchronized fetchCredentials
	state            atomic.Pointer[javaState]
}

type javaState struct {
	creds     aws.Credentials
	lastCheck time.Time
}

func (j *javaV1) needsLoad(now time.Time) bool {
	st := j.state.Load()
	if st == nil {
		return true
	}
	if st.creds.CanExpire && st.creds.Expires.Sub(now) < j.threshold {
		return true
	}
	return now.Sub(st.lastCheck) > j.after
}

func (j *javaV1) Retrieve(ctx context.Context) (aws.Credentials, error) {
	if j.needsLoad(time.Now()) {
		if err := j.fetch(ctx); err != nil {
			return aws.Credentials{}, err
		}
	}
	st := j.state.Load()
	if st.creds.Expired() {
		return aws.Credentials{}, errors.New("The credentials received have been expired")
	}
	return st.creds, nil
}

func (j *javaV1) fetch(ctx context.Context) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.needsLoad(time.Now()) {
		return nil
	}
	// A Java fetch is not interrupted by the caller going away.
	c, err := j.inner.Retrieve(context.WithoutCancel(ctx))
	if err != nil {
		if st := j.state.Load(); st == nil || st.creds.Expired() {
			return fmt.Errorf("Unable to load credentials from service endpoint: %w", err)
		}
		return nil // Java logs a warning and keeps the current credentials
	}
	j.state.Store(&javaState{creds: c, lastCheck: time.Now()})
	return nil
}

// botocore models botocore's RefreshableCredentials._refresh (before the
// IMDS expiration extension that newer botocore applies to short
// credentials, which is what stopped kiam issue 270's storm):
//
//	if not refresh_needed(advisory): return
//	if lock.acquire(False): re-check; refresh (an error is raised only in
//	    the mandatory window, else logged and the old credentials kept)
//	elif refresh_needed(mandatory): block on the lock, re-check, refresh
//
// With 15-minute credentials and a 15-minute advisory window every call
// refreshes; failures surface MandatoryWindow before expiry, not at it.
type botocore struct {
	inner               aws.CredentialsProvider
	advisory, mandatory time.Duration
	mu                  sync.Mutex
	creds               atomic.Pointer[aws.Credentials]
}

func (b *botocore) needed(within time.Duration) bool {
	c := b.creds.Load()
	if c == nil {
		return true
	}
	return c.CanExpire && time.Until(c.Expires) < within
}

func (b *botocore) Retrieve(ctx context.Context) (aws.Credentials, error) {
	if err := b.refresh(ctx); err != nil {
		return aws.Credentials{}, err
	}
	c := b.creds.Load()
	if c == nil {
		return aws.Credentials{}, errors.New("Unable to locate credentials")
	}
	return *c, nil
}

func (b *botocore) refresh(ctx context.Context) error {
	if !b.needed(b.advisory) {
		return nil
	}
	if b.mu.TryLock() {
		defer b.mu.Unlock()
		if !b.needed(b.advisory) {
			return nil
		}
		return b.protectedRefresh(ctx, b.needed(b.mandatory))
	}
	if b.needed(b.mandatory) {
		b.mu.Lock()
		defer b.mu.Unlock()
		if !b.needed(b.mandatory) {
			return nil
		}
		return b.protectedRefresh(ctx, true)
	}
	return nil // someone else is refreshing in the advisory window
}

func (b *botocore) protectedRefresh(ctx context.Context, mandatory bool) error {
	c, err := b.inner.Retrieve(context.WithoutCancel(ctx))
	if err != nil {
		if mandatory {
			return fmt.Errorf("Refreshing temporary credentials failed during mandatory refresh period: %w", err)
		}
		return nil // advisory: botocore logs a warning and keeps the old ones
	}
	b.creds.Store(&c)
	if c.Expired() {
		return errors.New("Credentials were refreshed, but the refreshed credentials are still expired.")
	}
	return nil
}
