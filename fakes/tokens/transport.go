package tokens

import "net/http"

// Wrap returns a RoundTripper that sends every request through rt with
// "Authorization: Bearer <token>" from c (rt nil: http.DefaultTransport), so
// a load run or any http.Client carries the client's tokens, stale ones
// included when the client caches past expiry.
func (c *Client) Wrap(rt http.RoundTripper) http.RoundTripper {
	if rt == nil {
		rt = http.DefaultTransport
	}
	return &bearer{c: c, next: rt}
}

type bearer struct {
	c    *Client
	next http.RoundTripper
}

func (b *bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	tok, err := b.c.Token(req.Context())
	if err != nil {
		if req.Body != nil {
			_ = req.Body.Close() // a RoundTripper closes the body, even on error
		}
		return nil, err
	}
	// A RoundTripper must not change the caller's request.
	out := req.Clone(req.Context())
	out.Header.Set("Authorization", "Bearer "+tok)
	return b.next.RoundTrip(out)
}
