package demoserver_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenrefresh/tokenrefresh/internal/demoserver"
)

func TestRevokeSession(t *testing.T) {
	h := newHarness(t, demoserver.Config{
		Rotate: true,
		Users:  map[string]string{"demo": "demo", "alice": "pw"},
	})
	first, second := h.login(), h.login()
	rotated := h.refresh(second.refresh).tokens(t)
	alice := h.loginAs("alice", "pw")

	require.Equal(t, 2, h.srv.RevokeSession("demo"))

	for _, tok := range []tokens{first, rotated} {
		h.requireAPIRejected(tok.access, "access token revoked")
		requireInvalidGrant(t, h.refresh(tok.refresh), "refresh token revoked")
	}
	h.requireAPIRejected(second.access, "access token revoked")
	h.requireAPIOK(alice.access)
	h.refresh(alice.refresh).tokens(t)

	assert.Zero(t, h.srv.RevokeSession("demo"), "already revoked")
	assert.Zero(t, h.srv.RevokeSession("nobody"))

	// Logging in again starts a fresh, working session.
	again := h.login()
	h.requireAPIOK(again.access)
	assert.Equal(t, 2, h.srv.Stats().SessionsRevoked)
}

func TestRevokeSessionSkipsDeadSessions(t *testing.T) {
	h := newHarness(t, demoserver.Config{AccessTTL: time.Minute, RefreshTTL: time.Hour})
	h.login()
	h.clock.Advance(time.Hour)
	assert.Zero(t, h.srv.RevokeSession("demo"), "an expired session needs no revoking")
	h.login()
	assert.Equal(t, 1, h.srv.RevokeSession("demo"))
}

func TestRevokeAccessTokens(t *testing.T) {
	h := newHarness(t, demoserver.Config{AccessTTL: time.Minute, Rotate: true})
	expired := h.login()
	h.clock.Advance(time.Minute)
	a, b := h.login(), h.login()
	b2 := h.refresh(b.refresh).tokens(t)

	// Only currently valid tokens count: a, b and b2.
	require.Equal(t, 3, h.srv.RevokeAccessTokens())

	for _, tok := range []tokens{a, b, b2} {
		h.requireAPIRejected(tok.access, "access token revoked")
	}
	h.requireAPIRejected(expired.access, "access token expired")

	// Refresh tokens survive, so the storm is recoverable.
	a2 := h.refresh(a.refresh).tokens(t)
	b3 := h.refresh(b2.refresh).tokens(t)
	h.requireAPIOK(a2.access)
	h.requireAPIOK(b3.access)

	assert.Equal(t, 2, h.srv.RevokeAccessTokens())
	assert.Zero(t, h.srv.Stats().SessionsRevoked)
}
