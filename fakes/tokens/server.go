// Package tokens is the lab's OAuth2/OIDC-style token issuer and a caching
// client for it. The issuer answers client_credentials grants with JWTs whose
// iss claim is the key of a Kong jwt_secrets entry, so Kong's jwt plugin
// verifies them; the client caches tokens and, with CachePastExpiry, keeps
// sending them after exp: the incident gateway/401-expired-token, where
// Kong answers 401 {"exp":"token expired"}.
package tokens

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Paths the issuer serves.
const (
	TokenPath     = "/oauth/token"
	DiscoveryPath = "/.well-known/openid-configuration"
	JWKSPath      = "/jwks"
	ControlPath   = "/__chaoslab/tokens"
)

// Server is a running issuer.
type Server struct {
	url     string
	ln      net.Listener
	srv     *http.Server
	issuer  string
	key     string
	alg     string
	secret  []byte
	rsaKey  *rsa.PrivateKey
	clients map[string]string
	now     func() time.Time

	lifetime         atomic.Int64 // time.Duration
	issued, rejected atomic.Int64

	closeOnce sync.Once
	closeErr  error
}

// Start listens and serves; the issuer is ready when Start returns.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	s := &Server{alg: cfg.Alg, key: cfg.Key, clients: map[string]string{}, now: cfg.Now, rsaKey: cfg.RSAKey}
	if s.alg == "" {
		s.alg = AlgHS256
	}
	if s.now == nil {
		s.now = time.Now
	}
	for id, secret := range cfg.Clients {
		s.clients[id] = secret
	}
	if len(s.clients) == 0 {
		s.clients[DefaultClientID] = DefaultClientSecret
	}
	switch s.alg {
	case AlgHS256:
		s.secret = []byte(cfg.Secret)
		if cfg.Secret == "" {
			b := make([]byte, 32)
			_, _ = rand.Read(b)
			s.secret = []byte(hex.EncodeToString(b))
		}
	case AlgRS256:
		if s.rsaKey == nil {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				return nil, fmt.Errorf("tokens: RSA key: %w", err)
			}
			s.rsaKey = k
		}
	}
	lifetime := cfg.Lifetime
	if lifetime == 0 {
		lifetime = DefaultLifetime
	}
	s.lifetime.Store(int64(lifetime))

	listen := cfg.Listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("tokens: --listen %s: %w", listen, err)
	}
	s.ln, s.url = ln, "http://"+ln.Addr().String()
	s.issuer = cfg.Issuer
	if s.issuer == "" {
		s.issuer = s.url
	}
	if s.key == "" {
		s.key = DefaultKey
		if cfg.Issuer != "" {
			s.key = cfg.Issuer
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc(TokenPath, s.token)
	mux.HandleFunc(DiscoveryPath, s.discovery)
	mux.HandleFunc(JWKSPath, s.jwks)
	mux.HandleFunc(ControlPath, s.control)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// URL is the issuer's base URL.
func (s *Server) URL() string { return s.url }

// Addr is host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// TokenURL is the token endpoint.
func (s *Server) TokenURL() string { return s.url + TokenPath }

// Key is the iss claim of the tokens (the Kong jwt_secrets key).
func (s *Server) Key() string { return s.key }

// Alg is the signing algorithm.
func (s *Server) Alg() string { return s.alg }

// Issuer is the discovery document's issuer.
func (s *Server) Issuer() string { return s.issuer }

// Lifetime is the lifetime of the tokens issued from now on.
func (s *Server) Lifetime() time.Duration { return time.Duration(s.lifetime.Load()) }

// SetLifetime changes the lifetime of the tokens issued from now on; tokens
// already out keep their exp. Zero is refused (use a negative lifetime to
// issue expired tokens).
func (s *Server) SetLifetime(d time.Duration) error {
	if d == 0 {
		return errors.New("lifetime: must not be zero")
	}
	s.lifetime.Store(int64(d))
	return nil
}

// Issued counts tokens handed out; Rejected counts invalid_client answers.
func (s *Server) Issued() int64   { return s.issued.Load() }
func (s *Server) Rejected() int64 { return s.rejected.Load() }

// Info is the start-up report (fakes.Server): what a kong.yml needs to
// verify the tokens.
func (s *Server) Info() map[string]string {
	info := map[string]string{"token": s.TokenURL(), "iss": s.key, "alg": s.alg,
		"clients": strings.Join(sortedIDs(s.clients), ", ")}
	if s.alg == AlgHS256 {
		info["secret"] = string(s.secret)
	} else {
		info["jwks"] = s.url + JWKSPath
		info["public-key"] = "GET " + s.url + ControlPath + " (kong_jwt_secret.rsa_public_key)"
	}
	return info
}

// Close stops the issuer. Idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		err := s.srv.Close()
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.closeErr = err
	})
	return s.closeErr
}
