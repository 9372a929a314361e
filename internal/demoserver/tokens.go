package demoserver

import (
	"crypto/rand"
	"encoding/base64"
)

// refreshTokenSize is the length of refresh tokens: 32 random bytes in
// base64url. Unlike access tokens they are never sent to APIs, so there is no
// reason to make their size configurable.
const refreshTokenSize = 43

// newToken returns an opaque random token of exactly size base64url
// characters. Every character carries 6 random bits.
func newToken(size int) string {
	b := make([]byte, base64.RawURLEncoding.DecodedLen(size)+1)
	// crypto/rand.Read never returns an error: it crashes the program if
	// the system's randomness source fails, which is the right call for a
	// token issuer.
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)[:size]
}
