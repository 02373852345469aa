package kong

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/chaoslab/chaoslab/fakes/kong/internal/config"
)

func init() {
	registerPlugin("jwt", func(c any) plugin { return &jwtAuth{c.(*config.JWTConfig)} })
}

type jwtAuth struct{ c *config.JWTConfig }

// jwtFailure is the plugin's error: {"message": ...} or the claim errors.
type jwtFailure struct {
	message string
	errors  map[string]string
	www     string
}

var bearerRe = regexp.MustCompile(`\s*[Bb]earer\s+(.+)`)

func (p *jwtAuth) tokens(r *http.Request) []string {
	set := map[string]bool{}
	q := r.URL.Query()
	for _, n := range p.c.URIParamNames {
		for _, v := range q[n] {
			if v != "" {
				set[v] = true
			}
		}
	}
	for _, n := range p.c.CookieNames {
		if ck, err := r.Cookie(n); err == nil && ck.Value != "" {
			set[ck.Value] = true
		}
	}
	for _, n := range p.c.HeaderNames {
		if v := r.Header.Get(n); v != "" {
			if m := bearerRe.FindStringSubmatch(v); m != nil && m[1] != "" {
				set[m[1]] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for t := range set {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

func (p *jwtAuth) access(c *reqCtx) bool {
	if !p.c.RunOnPreflight && c.r.Method == http.MethodOptions {
		return false
	}
	f := p.authenticate(c)
	if f == nil {
		return false
	}
	if p.c.Anonymous != "" {
		if anon := findConsumer(c.rt.cfg, p.c.Anonymous); anon != nil {
			setConsumer(c, anon, "")
			setExact(c.upstreamHeader(), "X-Anonymous-Consumer", "true")
			return false
		}
	}
	var body string
	if f.errors != nil {
		keys := make([]string, 0, len(f.errors))
		for k := range f.errors {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = cjsonString(k) + ":" + cjsonString(f.errors[k])
		}
		body = "{" + strings.Join(parts, ",") + "}"
	} else {
		body = `{"message":` + cjsonString(f.message) + `}`
	}
	c.kongExit(http.StatusUnauthorized, body, http.Header{"WWW-Authenticate": {f.www}})
	return true
}

func (p *jwtAuth) authenticate(c *reqCtx) *jwtFailure {
	base := "Bearer"
	if p.c.Realm != "" {
		base = `Bearer realm="` + p.c.Realm + `"`
	}
	withErr := base + ` error="invalid_token"`
	fail := func(msg string) *jwtFailure { return &jwtFailure{message: msg, www: withErr} }

	toks := p.tokens(c.r)
	switch len(toks) {
	case 0:
		return &jwtFailure{message: "Unauthorized", www: base}
	case 1:
	default:
		return fail("Multiple tokens provided")
	}
	token := toks[0]
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return fail("Bad token; invalid JWT")
	}
	var header, claims map[string]any
	if err := decodeSegment(parts[0], &header); err != nil {
		return fail("Bad token; invalid JSON")
	}
	if err := decodeSegment(parts[1], &claims); err != nil {
		return fail("Bad token; invalid JSON")
	}
	keyVal, ok := claims[p.c.KeyClaimName]
	if !ok {
		keyVal, ok = header[p.c.KeyClaimName]
	}
	if !ok || keyVal == nil {
		return fail("No mandatory '" + p.c.KeyClaimName + "' in claims")
	}
	key, _ := keyVal.(string)
	if key == "" {
		return fail("Invalid '" + p.c.KeyClaimName + "' in claims")
	}
	secret := c.rt.jwt[key]
	if secret == nil {
		return fail("No credentials found for given '" + p.c.KeyClaimName + "'")
	}
	if alg, _ := header["alg"].(string); alg != secret.Algorithm {
		return fail("Invalid algorithm")
	}
	method := jwt.GetSigningMethod(secret.Algorithm)
	if method == nil {
		return fail("Invalid algorithm")
	}
	var verifyKey any
	if strings.HasPrefix(secret.Algorithm, "HS") {
		k := []byte(secret.Secret)
		if p.c.SecretIsBase64 {
			dec, err := base64.StdEncoding.DecodeString(secret.Secret)
			if err != nil {
				return fail("Invalid key/secret")
			}
			k = dec
		}
		verifyKey = k
	} else {
		switch k := secret.PublicKey().(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey:
			verifyKey = k
		default:
			return fail("Invalid key/secret")
		}
	}
	sig, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[2], "="))
	if err != nil || method.Verify(parts[0]+"."+parts[1], sig, verifyKey) != nil {
		return fail("Invalid signature")
	}
	if errs := verifyClaims(claims, p.c.ClaimsToVerify); errs != nil {
		return &jwtFailure{errors: errs, www: withErr}
	}
	if p.c.MaximumExpiration > 0 {
		if exp, ok := claims["exp"].(float64); ok && exp > float64(time.Now().Unix()+int64(p.c.MaximumExpiration)) {
			return &jwtFailure{errors: map[string]string{"exp": "exceeds maximum allowed expiration"}, www: withErr}
		}
	}
	setConsumer(c, secret.Consumer, secret.ID)
	// jwt identifies the credential upstream by its key (the iss), not its
	// id as key-auth does.
	setExact(c.upstreamHeader(), "X-Credential-Identifier", secret.Key)
	return nil
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(seg, "="))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return err
	}
	if v == nil {
		return fmt.Errorf("null")
	}
	return nil
}

// verifyClaims is Kong's jwt_parser verify_registered_claims.
func verifyClaims(claims map[string]any, names []string) map[string]string {
	var errs map[string]string
	add := func(k, v string) {
		if errs == nil {
			errs = map[string]string{}
		}
		errs[k] = v
	}
	now := float64(time.Now().Unix())
	for _, n := range names {
		v, ok := claims[n].(float64)
		if !ok {
			add(n, "must be a number")
			continue
		}
		switch n {
		case "exp":
			if v <= now {
				add(n, "token expired")
			}
		case "nbf":
			if v > now {
				add(n, "token not valid yet")
			}
		}
	}
	return errs
}
