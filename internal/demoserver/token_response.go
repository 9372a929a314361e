package demoserver

import (
	"fmt"
	"log/slog"
	"time"
)

// TokenResponse is the body of a successful login or refresh, as sent by
// /login, /refresh and /oauth2/token (RFC 6749 section 5.1).
//
// Its String and LogValue methods redact the token values, so printing or
// logging one does not leak credentials.
type TokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"` // always "Bearer"
	// ExpiresIn is the access token lifetime in whole seconds, rounded up
	// and therefore at least 1: rounding down would turn sub-second test
	// TTLs into 0, which RFC 6749 clients such as x/oauth2 read as "never
	// expires". The server enforces the exact TTL, so a client trusting
	// ExpiresIn may be up to a second optimistic and meet a 401, exactly
	// like clock skew against a real server.
	ExpiresIn int64 `json:"expires_in"`
	// RefreshToken is set by logins and by rotating refreshes; a
	// non-rotating refresh leaves it empty (omitted), meaning "keep using
	// the one you have" (RFC 6749 section 6).
	RefreshToken string `json:"refresh_token,omitempty"`

	// Expiry is the exact server-side expiry of AccessToken.
	Expiry time.Time `json:"-"`
	// RefreshExpiry is the exact expiry of RefreshToken, zero when
	// RefreshToken is empty.
	RefreshExpiry time.Time `json:"-"`
}

func newTokenResponse(iss issued, ttl time.Duration) TokenResponse {
	return TokenResponse{
		AccessToken:   iss.access,
		TokenType:     "Bearer",
		ExpiresIn:     int64((ttl + time.Second - 1) / time.Second),
		RefreshToken:  iss.refresh,
		Expiry:        iss.accessExpiry,
		RefreshExpiry: iss.refreshExpiry,
	}
}

// String implements fmt.Stringer without revealing token values.
func (t TokenResponse) String() string {
	return fmt.Sprintf("TokenResponse{access_token:%s refresh_token:%s expires_in:%d}",
		redact(t.AccessToken), redact(t.RefreshToken), t.ExpiresIn)
}

// LogValue implements slog.LogValuer without revealing token values.
func (t TokenResponse) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("access_token", redact(t.AccessToken)),
		slog.String("refresh_token", redact(t.RefreshToken)),
		slog.Int64("expires_in", t.ExpiresIn),
	)
}

func redact(s string) string {
	if s == "" {
		return "<none>"
	}
	return "<redacted>"
}
