package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials/ec2rolecreds"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
)

// newIMDSClient is the real SDK metadata client pointed at endpoint. Its
// transport is the one the SDK builds for IMDS (250 ms dial, 500 ms response
// headers), but owned by the app so Close can release its connections.
func newIMDSClient(endpoint string, maxAttempts int) (*imds.Client, *http.Transport) {
	tr := awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = 250 * time.Millisecond }).
		WithTransportOptions(func(tr *http.Transport) {
			tr.ResponseHeaderTimeout = 500 * time.Millisecond
			tr.Proxy = nil // the lab's metadata service is never behind a proxy
		}).
		GetTransport()
	o := imds.Options{
		Endpoint:          endpoint,
		HTTPClient:        &http.Client{Transport: tr},
		ClientEnableState: imds.ClientEnabled, // not AWS_EC2_METADATA_DISABLED
	}
	if maxAttempts > 0 {
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) { so.MaxAttempts = maxAttempts })
	}
	return imds.New(o), tr
}

// metadataTap sits between ec2rolecreds and the metadata client and reads
// the Expiration of every credential document as the service sent it. The
// SDK's own Expires can differ (capped at 1 h, moved by the cache's window,
// extended after a failed refresh), and the app needs the real one to tell
// when the credentials it was handed are no longer valid.
type metadataTap struct {
	client ec2rolecreds.GetMetadataAPIClient
	calls  atomic.Int64

	mu      sync.Mutex
	expires map[string]time.Time // AccessKeyId -> Expiration, a few recent
	order   []string
}

func (t *metadataTap) GetMetadata(ctx context.Context, in *imds.GetMetadataInput, opts ...func(*imds.Options)) (*imds.GetMetadataOutput, error) {
	t.calls.Add(1)
	out, err := t.client.GetMetadata(ctx, in, opts...)
	if err != nil || !isCredentialDocument(in.Path) {
		return out, err
	}
	b, err := io.ReadAll(out.Content)
	_ = out.Content.Close()
	if err != nil {
		return nil, err
	}
	var doc struct {
		AccessKeyID string    `json:"AccessKeyId"`
		Expiration  time.Time `json:"Expiration"`
	}
	if json.Unmarshal(b, &doc) == nil && doc.AccessKeyID != "" {
		t.remember(doc.AccessKeyID, doc.Expiration)
	}
	out.Content = io.NopCloser(bytes.NewReader(b))
	return out, nil
}

// isCredentialDocument is true for iam/security-credentials/<role>.
func isCredentialDocument(path string) bool {
	rest, ok := strings.CutPrefix(strings.TrimPrefix(path, "/"), "iam/security-credentials/")
	return ok && rest != ""
}

func (t *metadataTap) remember(key string, exp time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.expires == nil {
		t.expires = map[string]time.Time{}
	}
	if _, ok := t.expires[key]; !ok {
		t.order = append(t.order, key)
	}
	t.expires[key] = exp
	for len(t.order) > 16 {
		delete(t.expires, t.order[0])
		t.order = t.order[1:]
	}
}

// expiry is the Expiration the service gave for these keys.
func (t *metadataTap) expiry(key string) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	exp, ok := t.expires[key]
	return exp, ok
}

// fetchCounter wraps the SDK's ec2rolecreds provider to count fetches and
// keep the last refresh error. It forwards the provider's optional cache
// strategies, so aws.CredentialsCache behaves exactly as with the bare
// provider (ec2rolecreds' AdjustExpiresBy and HandleFailToRefresh).
type fetchCounter struct {
	p        *ec2rolecreds.Provider
	fetches  atomic.Int64
	failures atomic.Int64
	lastErr  atomic.Pointer[string]
}

func (f *fetchCounter) Retrieve(ctx context.Context) (aws.Credentials, error) {
	f.fetches.Add(1)
	c, err := f.p.Retrieve(ctx)
	if err != nil {
		f.failures.Add(1)
		msg := err.Error()
		f.lastErr.Store(&msg)
	}
	return c, err
}

func (f *fetchCounter) HandleFailToRefresh(ctx context.Context, prev aws.Credentials, err error) (aws.Credentials, error) {
	return f.p.HandleFailToRefresh(ctx, prev, err)
}

func (f *fetchCounter) AdjustExpiresBy(c aws.Credentials, d time.Duration) (aws.Credentials, error) {
	return f.p.AdjustExpiresBy(c, d)
}

func (f *fetchCounter) lastError() string {
	if p := f.lastErr.Load(); p != nil {
		return *p
	}
	return ""
}
