// Package interop runs tokenrefresh against a real OAuth 2.0 authorization
// server, github.com/ory/fosite, in process on a loopback address.
//
// It is a separate module so that fosite and its dependencies are never
// required by importers of tokenrefresh. The server here is test support;
// the scenarios live in the package's tests (see README.md).
package interop

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/storage"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/oauth2"
)

// The one registered client and user, and the scopes the server knows.
const (
	ClientID     = "tokenrefresh-interop"
	ClientSecret = "interop-client-secret"
	Username     = "alice"
	Password     = "wonderland"

	// ScopeOffline makes fosite issue a refresh token.
	ScopeOffline = "offline"
	// ScopeAPI is required by the resource at /api/data.
	ScopeAPI = "api"
	// ScopeAdmin is required by /api/admin and /api/admin-401; the client
	// may ask for it, but Login does not.
	ScopeAdmin = "admin"
)

// Resource paths on the server.
const (
	// PathData requires ScopeAPI.
	PathData = "/api/data"
	// PathAdmin requires ScopeAdmin and answers 403 insufficient_scope
	// without it, as RFC 6750 section 3.1 says.
	PathAdmin = "/api/admin"
	// PathAdmin401 requires ScopeAdmin and answers 401 with
	// error="insufficient_scope" without it, as some servers do.
	PathAdmin401 = "/api/admin-401"

	pathToken  = "/oauth2/token"
	pathRevoke = "/oauth2/revoke"
)

// Config configures a Server.
type Config struct {
	// AccessTokenLifespan is fosite's access token lifespan; default one
	// hour. fosite rounds the expiry to a whole second and truncates
	// expires_in to whole seconds, so the expires_in a client sees is
	// lifespan-1s or lifespan (rounded down to seconds). Below 2s that can
	// be 0, which golang.org/x/oauth2 reads as "no expiry".
	AccessTokenLifespan time.Duration
	// RefreshTokenLifespan is fosite's refresh token lifespan; default one
	// day.
	RefreshTokenLifespan time.Duration
	// KeepAccessTokenOnRotation makes a refresh revoke only the refresh
	// token presented, leaving the access token issued with it valid until
	// it expires, as RFC 6749 permits. By default the server behaves as
	// fosite's MemoryStore.RotateRefreshToken does: it revokes both, so
	// requests still carrying the old access token while the client
	// refreshes get 401.
	KeepAccessTokenOnRotation bool
}

// A Server is an in-process fosite authorization server with a token
// endpoint (resource owner password and refresh_token grants, rotating
// refresh tokens, HMAC opaque tokens), an RFC 7009 revocation endpoint, and
// a resource server that validates bearer tokens with fosite's
// IntrospectToken.
type Server struct {
	// URL is the server's base URL, on a loopback address.
	URL string

	provider fosite.OAuth2Provider
	strategy interface {
		AccessTokenSignature(ctx context.Context, token string) string
	}
	store *lockedStore
	srv   *httptest.Server

	mu        sync.Mutex
	stats     Stats
	refreshes []RefreshGrant
	presented map[string]int // refresh token -> times presented
	okByToken map[string]int // access token -> 200 answers from the resource
}

// Stats counts what the server saw.
type Stats struct {
	// PasswordGrants counts resource owner password grant requests.
	PasswordGrants int
	// RefreshGrants counts refresh_token grant requests; RefreshOK those
	// that succeeded.
	RefreshGrants, RefreshOK int
	// RefreshTokensReplayed counts refresh_token grant requests that
	// presented a refresh token that had been presented before.
	RefreshTokensReplayed int
	// ReuseDetections counts how often fosite found a presented refresh
	// token inactive (already rotated, or revoked) and revoked its whole
	// token family.
	ReuseDetections int
	// Resource counts requests to the resource server; Resource200,
	// Resource401 and Resource403 count its answers.
	Resource, Resource200, Resource401, Resource403 int
	// Resource401Expired counts the 401s for access tokens that had
	// expired, as opposed to revoked or unknown ones.
	Resource401Expired int
}

// A RefreshGrant is one refresh_token grant request as the token endpoint
// saw it.
type RefreshGrant struct {
	// At is when the request arrived, Answered when the answer was ready
	// to be sent.
	At, Answered time.Time
	// Status is the HTTP status of the answer.
	Status int
	// ErrorCode is the OAuth2 error code of a failed grant.
	ErrorCode string
	// ExpiresIn is the expires_in sent with a new access token, in seconds.
	ExpiresIn int64
}

// NewServer starts a Server. Close it when done.
func NewServer(cfg Config) (*Server, error) {
	if cfg.AccessTokenLifespan == 0 {
		cfg.AccessTokenLifespan = time.Hour
	}
	if cfg.RefreshTokenLifespan == 0 {
		cfg.RefreshTokenLifespan = 24 * time.Hour
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	fc := &fosite.Config{
		AccessTokenLifespan:        cfg.AccessTokenLifespan,
		RefreshTokenLifespan:       cfg.RefreshTokenLifespan,
		GlobalSecret:               secret,
		HashCost:                   bcrypt.MinCost,
		SendDebugMessagesToClients: true,
		// fosite.Config fills these in lazily on first use, which is a
		// data race when the first requests are concurrent; set them now.
		ScopeStrategy:            fosite.ExactScopeStrategy,
		AudienceMatchingStrategy: fosite.DefaultAudienceMatchingStrategy,
	}
	fc.ClientSecretsHasher = &fosite.BCrypt{Config: fc}

	hashed, err := bcrypt.GenerateFromPassword([]byte(ClientSecret), bcrypt.MinCost)
	if err != nil {
		return nil, err
	}
	store := newLockedStore(cfg.KeepAccessTokenOnRotation)
	store.Clients[ClientID] = &fosite.DefaultClient{
		ID:         ClientID,
		Secret:     hashed,
		GrantTypes: []string{"password", "refresh_token"},
		Scopes:     []string{ScopeOffline, ScopeAPI, ScopeAdmin},
	}
	store.Users[Username] = storage.MemoryUserRelation{Username: Username, Password: Password}

	strategy := compose.NewOAuth2HMACStrategy(fc)
	s := &Server{
		provider: compose.Compose(fc, store, strategy,
			compose.OAuth2ResourceOwnerPasswordCredentialsFactory,
			// Refresh tokens rotate: MemoryStore.RotateRefreshToken
			// revokes the presented one (and the grant's access token,
			// unless KeepAccessTokenOnRotation), and presenting it again
			// revokes the family (RFC 6819 section 5.2.2.3).
			compose.OAuth2RefreshTokenGrantFactory,
			compose.OAuth2TokenIntrospectionFactory,
			compose.OAuth2TokenRevocationFactory,
		),
		strategy:  strategy,
		store:     store,
		presented: make(map[string]int),
		okByToken: make(map[string]int),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+pathToken, s.token)
	mux.HandleFunc("POST "+pathRevoke, s.revoke)
	mux.Handle("GET "+PathData, s.resource(ScopeAPI, http.StatusForbidden))
	mux.Handle("GET "+PathAdmin, s.resource(ScopeAdmin, http.StatusForbidden))
	mux.Handle("GET "+PathAdmin401, s.resource(ScopeAdmin, http.StatusUnauthorized))
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL
	return s, nil
}

// Close shuts the server down and waits for outstanding requests.
func (s *Server) Close() { s.srv.Close() }

// OAuth2Config returns a client configuration for the server's token
// endpoint, authenticating with HTTP Basic.
func (s *Server) OAuth2Config(scopes ...string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     ClientID,
		ClientSecret: ClientSecret,
		Endpoint:     oauth2.Endpoint{TokenURL: s.URL + pathToken, AuthStyle: oauth2.AuthStyleInHeader},
		Scopes:       scopes,
	}
}

// Login logs the user in with the resource owner password grant, asking
// for ScopeOffline and ScopeAPI, and returns a token with a refresh token.
func (s *Server) Login(ctx context.Context) (*oauth2.Token, error) {
	return s.OAuth2Config(ScopeOffline, ScopeAPI).PasswordCredentialsToken(ctx, Username, Password)
}

// Stats returns what the server has counted so far.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.ReuseDetections = int(s.store.reuseDetections.Load())
	return st
}

// RefreshGrants returns the refresh_token grant requests seen so far.
func (s *Server) RefreshGrants() []RefreshGrant {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]RefreshGrant(nil), s.refreshes...)
}

// OKWith reports how many requests the resource server answered 200 with
// the given access token.
func (s *Server) OKWith(accessToken string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.okByToken[accessToken]
}

// RevokeAccessToken revokes an access token in the server's storage, as an
// administrator would. The refresh token of its grant stays valid.
func (s *Server) RevokeAccessToken(ctx context.Context, accessToken string) error {
	req, err := s.store.GetAccessTokenSession(ctx, s.strategy.AccessTokenSignature(ctx, accessToken), nil)
	if err != nil {
		return fmt.Errorf("look up access token: %w", err)
	}
	return s.store.RevokeAccessToken(ctx, req.GetID())
}

// Revoke revokes token at the RFC 7009 revocation endpoint, authenticating
// as the client. fosite revokes the whole grant: for a refresh token, both
// it and the grant's access token.
func (s *Server) Revoke(ctx context.Context, token, hint string) error {
	form := url.Values{"token": {token}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+pathRevoke, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(ClientID), url.QueryEscape(ClientSecret))
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("revocation endpoint answered %s", resp.Status)
	}
	return nil
}

// token is the token endpoint. It records each grant before answering, so
// that a client holding the answer always finds it counted.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	arrived := time.Now()
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	grant := r.PostForm.Get("grant_type")
	presented := r.PostForm.Get("refresh_token")

	rec := httptest.NewRecorder()
	ar, err := s.provider.NewAccessRequest(ctx, r, &fosite.DefaultSession{})
	if err == nil {
		if ar.GetGrantTypes().ExactOne("password") {
			// The consent step of this server: grant what the client may
			// ask for and asked for. fosite checked the former.
			for _, scope := range ar.GetRequestedScopes() {
				ar.GrantScope(scope)
			}
		}
		var resp fosite.AccessResponder
		if resp, err = s.provider.NewAccessResponse(ctx, ar); err == nil {
			s.provider.WriteAccessResponse(ctx, rec, ar, resp)
		}
	}
	if err != nil {
		s.provider.WriteAccessError(ctx, rec, ar, err)
	}

	var body struct {
		Error     string `json:"error"`
		ExpiresIn int64  `json:"expires_in"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	answered := time.Now()
	s.mu.Lock()
	switch grant {
	case "password":
		s.stats.PasswordGrants++
	case "refresh_token":
		s.stats.RefreshGrants++
		if rec.Code == http.StatusOK {
			s.stats.RefreshOK++
		}
		s.presented[presented]++
		if s.presented[presented] > 1 {
			s.stats.RefreshTokensReplayed++
		}
		s.refreshes = append(s.refreshes, RefreshGrant{At: arrived, Answered: answered, Status: rec.Code, ErrorCode: body.Error, ExpiresIn: body.ExpiresIn})
	}
	s.mu.Unlock()

	copyResponse(w, rec)
}

func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	s.provider.WriteRevocationResponse(ctx, w, s.provider.NewRevocationRequest(ctx, r))
}

// resource validates the bearer token with fosite's IntrospectToken,
// demanding scope, and answers as RFC 6750 section 3.1 says: 401
// invalid_token for a missing, expired or revoked token, and
// insufficientStatus with insufficient_scope for a token without scope.
func (s *Server) resource(scope string, insufficientStatus int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		status, challenge := http.StatusOK, ""
		tok, ok := bearerToken(r)
		var subject string
		expired := false
		switch {
		case !ok:
			status, challenge = http.StatusUnauthorized, `Bearer realm="interop"`
		default:
			use, ar, err := s.provider.IntrospectToken(ctx, tok, fosite.AccessToken, &fosite.DefaultSession{}, scope)
			switch {
			case err == nil && use == fosite.AccessToken:
				subject = ar.GetSession().GetSubject()
			case errors.Is(err, fosite.ErrInvalidScope):
				status = insufficientStatus
				challenge = fmt.Sprintf(`Bearer realm="interop", error="insufficient_scope", scope=%q`, scope)
			default: // includes a refresh token presented as a bearer token
				status, challenge = http.StatusUnauthorized, `Bearer realm="interop", error="invalid_token"`
				expired = errors.Is(err, fosite.ErrTokenExpired)
			}
		}

		s.mu.Lock()
		s.stats.Resource++
		switch status {
		case http.StatusOK:
			s.stats.Resource200++
			s.okByToken[tok]++
		case http.StatusUnauthorized:
			s.stats.Resource401++
			if expired {
				s.stats.Resource401Expired++
			}
		case http.StatusForbidden:
			s.stats.Resource403++
		}
		s.mu.Unlock()

		if challenge != "" {
			w.Header().Set("WWW-Authenticate", challenge)
			http.Error(w, http.StatusText(status), status)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "hello %s\n", subject)
	})
}

// bearerToken extracts the token of an Authorization: Bearer header.
func bearerToken(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", false
	}
	return tok, true
}

func copyResponse(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = bytes.NewReader(rec.Body.Bytes()).WriteTo(w)
}
