package kong

import (
	"net/http"
	"strings"

	"github.com/chaoslab/chaoslab/fakes/kong/internal/config"
)

func init() {
	registerPlugin("key-auth", func(c any) plugin { return &keyAuth{c.(*config.KeyAuthConfig)} })
}

type keyAuth struct{ c *config.KeyAuthConfig }

func (k *keyAuth) wwwAuthenticate() http.Header {
	v := "Key"
	if k.c.Realm != "" {
		v = `Key realm="` + k.c.Realm + `"`
	}
	return http.Header{"WWW-Authenticate": {v}}
}

func (k *keyAuth) access(c *reqCtx) bool {
	if !k.c.RunOnPreflight && c.r.Method == http.MethodOptions {
		return false
	}
	var key string
	var query map[string][]string
	for _, name := range k.c.KeyNames {
		var vals []string
		if k.c.KeyInHeader {
			vals = c.r.Header.Values(name)
		}
		if len(vals) == 0 && k.c.KeyInQuery {
			if query == nil {
				query = c.r.URL.Query()
			}
			vals = query[name]
		}
		if len(vals) > 1 {
			return k.fail(c, "Duplicate API key found")
		}
		if len(vals) == 1 {
			key = vals[0]
			if k.c.HideCredentials {
				c.upDrop = append(c.upDrop, name)
				c.queryDrop = append(c.queryDrop, name)
			}
			break
		}
	}
	if key == "" {
		return k.fail(c, "No API key found in request")
	}
	cred := c.rt.keyAuth[key]
	if cred == nil {
		return k.fail(c, "Unauthorized")
	}
	setConsumer(c, cred.Consumer, cred.ID)
	return false
}

func (k *keyAuth) fail(c *reqCtx, msg string) bool {
	if k.c.Anonymous != "" {
		if anon := findConsumer(c.rt.cfg, k.c.Anonymous); anon != nil {
			setConsumer(c, anon, "")
			setExact(c.upstreamHeader(), "X-Anonymous-Consumer", "true")
			return false
		}
	}
	c.kongError(http.StatusUnauthorized, msg, k.wwwAuthenticate())
	return true
}

// setConsumer records the authenticated consumer and passes Kong's
// X-Consumer-* headers upstream.
func setConsumer(c *reqCtx, con *config.Consumer, credentialID string) {
	c.consumer, c.credentialID = con, credentialID
	h := c.upstreamHeader()
	setExact(h, "X-Consumer-ID", con.ID)
	if con.Username != "" {
		setExact(h, "X-Consumer-Username", con.Username)
	}
	if con.CustomID != "" {
		setExact(h, "X-Consumer-Custom-ID", con.CustomID)
	}
	if credentialID != "" {
		setExact(h, "X-Credential-Identifier", credentialID)
	}
	c.upDrop = append(c.upDrop, "X-Anonymous-Consumer")
}

func findConsumer(cfg *config.Config, idOrName string) *config.Consumer {
	for _, con := range cfg.Consumers {
		if con.ID == idOrName || strings.EqualFold(con.Username, idOrName) {
			return con
		}
	}
	return nil
}

// setExact sets a header with Kong's spelling (X-RateLimit-Limit-Second,
// WWW-Authenticate), replacing any canonical-case copy Go made.
func setExact(h http.Header, name, v string) {
	if c := http.CanonicalHeaderKey(name); c != name {
		delete(h, c)
	}
	h[name] = []string{v}
}
