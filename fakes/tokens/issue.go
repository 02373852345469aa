package tokens

import (
	"github.com/chaoslab/chaoslab/fakes/control"

	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TokenResponse is the token endpoint's answer (RFC 6749 section 5.1).
type TokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	// ExpiresIn is the lifetime in whole seconds, rounded down so it never
	// overstates; sub-second lab lifetimes read 0 here and exactly in exp.
	ExpiresIn int64 `json:"expires_in"`
}

// token answers POST /oauth/token for the client_credentials grant, the
// client authenticating with HTTP Basic or form fields.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request")
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	id, secret, basic := r.BasicAuth()
	if basic {
		// RFC 6749 2.3.1: Basic credentials are form-urlencoded first.
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	want, known := s.clients[id]
	if !known || subtle.ConstantTimeCompare([]byte(secret), []byte(want)) != 1 {
		s.rejected.Add(1)
		if basic { // RFC 6749 5.2: a Basic attempt gets a challenge back
			w.Header().Set("WWW-Authenticate", `Basic realm="chaoslab-tokens"`)
		}
		oauthError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	switch r.PostForm.Get("grant_type") {
	case "client_credentials":
	case "":
		oauthError(w, http.StatusBadRequest, "invalid_request")
		return
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type")
		return
	}
	tok, lifetime, err := s.Mint(id)
	if err != nil {
		oauthError(w, http.StatusInternalServerError, "server_error")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	control.WriteJSON(w, http.StatusOK, TokenResponse{AccessToken: tok, TokenType: "Bearer",
		ExpiresIn: max(int64(lifetime/time.Second), 0)})
}

// Mint signs a token for subject sub with the current lifetime, as the token
// endpoint does, and counts it. It returns the lifetime used.
func (s *Server) Mint(sub string) (string, time.Duration, error) {
	lifetime := s.Lifetime()
	now := s.now()
	// Whole-second lifetimes give the usual integer claims. A time-compressed
	// lab asks for 300ms: then the claims keep milliseconds (RFC 7519 allows a
	// non-integer NumericDate; Kong compares them as numbers), so exp is
	// exactly iat + lifetime instead of being rounded to a second.
	whole := lifetime%time.Second == 0
	if whole {
		now = now.Truncate(time.Second)
	}
	jti := make([]byte, 8)
	_, _ = rand.Read(jti)
	claims := jwt.MapClaims{
		"iss": s.key,
		"sub": sub,
		"iat": numericDate(now, whole),
		"nbf": numericDate(now, whole),
		"exp": numericDate(now.Add(lifetime), whole),
		"jti": hex.EncodeToString(jti),
	}
	var (
		tok string
		err error
	)
	if s.alg == AlgRS256 {
		t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
		t.Header["kid"] = s.kid()
		tok, err = t.SignedString(s.rsaKey)
	} else {
		tok, err = jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(s.secret)
	}
	if err != nil {
		return "", 0, err
	}
	s.issued.Add(1)
	return tok, lifetime, nil
}

func numericDate(t time.Time, whole bool) json.Number {
	if whole {
		return json.Number(strconv.FormatInt(t.Unix(), 10))
	}
	return json.Number(strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', -1, 64))
}

func oauthError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Cache-Control", "no-store")
	control.WriteJSON(w, status, map[string]string{"error": code})
}
