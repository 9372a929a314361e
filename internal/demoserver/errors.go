package demoserver

import "errors"

// ErrInvalidCredentials is returned by Server.Login for an unknown user or a
// wrong password. The two are deliberately indistinguishable.
var ErrInvalidCredentials = errors.New("demoserver: invalid credentials")

// ErrInvalidGrant is returned by Server.Refresh when the refresh token is
// rejected. The error also wraps one of ErrTokenUnknown, ErrTokenExpired,
// ErrTokenRevoked or ErrTokenReused, saying why.
var ErrInvalidGrant = errors.New("demoserver: invalid grant")

// Reasons a token is rejected, wrapped by ErrInvalidGrant and mirrored in the
// error_description of HTTP answers.
var (
	// ErrTokenUnknown: the server never issued the token, or has already
	// forgotten it because it expired.
	ErrTokenUnknown = errors.New("token unknown")
	// ErrTokenExpired: the token's lifetime is over.
	ErrTokenExpired = errors.New("token expired")
	// ErrTokenRevoked: the token, or its whole session, was revoked.
	ErrTokenRevoked = errors.New("token revoked")
	// ErrTokenReused: a rotated refresh token was presented again.
	ErrTokenReused = errors.New("token already used")
)
