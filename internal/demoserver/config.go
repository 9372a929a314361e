package demoserver

import (
	"log/slog"
	"maps"
	"time"
)

// Defaults applied by New for zero Config fields.
const (
	DefaultAccessTTL  = time.Minute
	DefaultRefreshTTL = 24 * time.Hour
	// DefaultAccessTokenSize is the length of a base64url-encoded 32-byte
	// random value.
	DefaultAccessTokenSize = 43
	// MinAccessTokenSize keeps at least 128 bits of entropy (22 base64url
	// characters) in every access token, whatever Config asks for.
	MinAccessTokenSize = 22
)

// DefaultUsers returns the accounts used when Config.Users is nil: a single
// user "demo" with password "demo". It returns a fresh map on every call so
// callers may modify it.
func DefaultUsers() map[string]string {
	return map[string]string{"demo": "demo"}
}

// Config configures a Server. The zero value is usable: see each field for
// its default.
type Config struct {
	// AccessTTL is how long an access token is accepted. Default 1m.
	// Expiry is enforced exactly; expires_in reports it rounded up to whole
	// seconds (see TokenResponse.ExpiresIn).
	AccessTTL time.Duration

	// RefreshTTL is how long each refresh token is accepted, counted from
	// when that token was issued (refreshing never extends it). Default 24h.
	RefreshTTL time.Duration

	// Rotate makes every successful refresh spend the presented refresh token
	// and return a new one. Without it the refresh response carries no
	// refresh_token and the original one stays valid until it expires.
	Rotate bool

	// DetectReuse, together with Rotate, makes presenting a spent refresh
	// token revoke its whole session (every access and refresh token issued
	// since the login), the usual defence against a stolen refresh token.
	// Without it a spent token is merely rejected. It has no effect without
	// Rotate, since no token is ever spent.
	DetectReuse bool

	// Users maps usernames to passwords. nil means DefaultUsers(); an empty
	// non-nil map means nobody can log in. New copies the map.
	Users map[string]string

	// Now is the clock used for every expiry decision. Default time.Now.
	Now func() time.Time

	// RefreshDelay is artificial latency added before every refresh is
	// processed, to make refresh races and singleflight savings measurable.
	// It uses real time, not Now. If the request is cancelled during the
	// delay the refresh is not performed, so the client keeps a usable token.
	RefreshDelay time.Duration

	// AccessTokenSize is the length in bytes of each issued access token
	// string, e.g. 800 to mimic the header cost of a JWT. Default
	// DefaultAccessTokenSize; values below MinAccessTokenSize are raised to it.
	AccessTokenSize int

	// ClientID and ClientSecret, when ClientID is non-empty, make
	// /oauth2/token require client authentication (RFC 6749 section 2.3.1,
	// HTTP Basic or form parameters). When ClientID is empty any client, or
	// none, is accepted. /login and /refresh never require it.
	ClientID, ClientSecret string

	// Logger receives one record per login, refresh, rejection and reuse
	// detection, with reasons. nil disables logging.
	Logger *slog.Logger
}

// withDefaults returns a copy of c with defaults filled in and Users copied,
// so later changes by the caller cannot race with the server.
func (c Config) withDefaults() Config {
	if c.AccessTTL <= 0 {
		c.AccessTTL = DefaultAccessTTL
	}
	if c.RefreshTTL <= 0 {
		c.RefreshTTL = DefaultRefreshTTL
	}
	if c.Users == nil {
		c.Users = DefaultUsers()
	} else {
		c.Users = maps.Clone(c.Users)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.RefreshDelay < 0 {
		c.RefreshDelay = 0
	}
	if c.AccessTokenSize == 0 {
		c.AccessTokenSize = DefaultAccessTokenSize
	}
	c.AccessTokenSize = max(c.AccessTokenSize, MinAccessTokenSize)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}
