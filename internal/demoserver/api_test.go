package demoserver_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenrefresh/tokenrefresh/internal/demoserver"
)

const (
	challenge        = `Bearer realm="tokenrefresh-demo"`
	invalidChallenge = challenge + `, error="invalid_token", error_description=`
)

func TestAPIEchoesUserAndPath(t *testing.T) {
	h := newHarness(t, demoserver.Config{Users: map[string]string{"alice": "pw"}})
	tok := h.loginAs("alice", "pw")

	r := h.api("/api/things/42", tok.access)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	assert.Equal(t, map[string]any{"user": "alice", "path": "/api/things/42"}, r.body)

	// Any method, and a lower-case scheme (RFC 7235 schemes are
	// case-insensitive).
	req := h.request(http.MethodPost, "/api/", "application/json", "{}")
	req.Header.Set("Authorization", "bearer "+tok.access)
	r = h.do(req)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	assert.Equal(t, "/api/", r.str("path"))
}

func TestAPIWithoutToken(t *testing.T) {
	h := newHarness(t, demoserver.Config{})
	tok := h.login()
	for name, auth := range map[string]string{
		"no header":    "",
		"basic scheme": "Basic ZGVtbzpkZW1v",
		"raw token":    tok.access,
		"empty bearer": "Bearer ",
	} {
		t.Run(name, func(t *testing.T) {
			req := h.request(http.MethodGet, "/api/x", "", "")
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			r := h.do(req)
			assert.Equal(t, http.StatusUnauthorized, r.status)
			// RFC 6750 section 3.1: no error code when no credentials
			// were sent.
			assert.Equal(t, challenge, r.header.Get("WWW-Authenticate"))
			assert.Equal(t, "unauthorized", r.str("error"))
		})
	}
}

func TestAPIRejectsBadTokens(t *testing.T) {
	h := newHarness(t, demoserver.Config{AccessTTL: time.Minute})
	expired := h.login()
	h.clock.Advance(time.Minute)
	revoked := h.login()
	h.srv.RevokeAccessTokens()

	for name, c := range map[string]struct{ token, desc string }{
		"unknown":       {"no-such-token", "access token unknown"},
		"refresh token": {expired.refresh, "access token unknown"},
		"expired":       {expired.access, "access token expired"},
		"revoked":       {revoked.access, "access token revoked"},
	} {
		t.Run(name, func(t *testing.T) {
			r := h.api("/api/x", c.token)
			assert.Equal(t, http.StatusUnauthorized, r.status)
			assert.Equal(t, invalidChallenge+`"`+c.desc+`"`, r.header.Get("WWW-Authenticate"))
			assert.Equal(t, "invalid_token", r.str("error"))
			assert.Equal(t, c.desc, r.str("error_description"))
		})
	}
}

func TestAccessTokenExpiryIsExact(t *testing.T) {
	h := newHarness(t, demoserver.Config{AccessTTL: 500 * time.Millisecond})
	r := h.postJSON("/login", map[string]string{"username": "demo", "password": "demo"})
	tok := r.tokens(t)
	// Sub-second TTLs are reported rounded up: 0 would mean "no expiry".
	assert.EqualValues(t, 1, r.body["expires_in"])

	h.clock.Advance(499 * time.Millisecond)
	h.requireAPIOK(tok.access)
	h.clock.Advance(time.Millisecond)
	h.requireAPIRejected(tok.access, "access token expired")

	// Refreshing issues a fresh, fully valid access token.
	next := h.refresh(tok.refresh).tokens(t)
	h.requireAPIOK(next.access)
}

func TestExpiresInRoundsUp(t *testing.T) {
	for ttl, want := range map[time.Duration]int64{
		time.Nanosecond:         1,
		500 * time.Millisecond:  1,
		time.Second:             1,
		1500 * time.Millisecond: 2,
		time.Minute:             60,
		time.Hour:               3600,
	} {
		srv := demoserver.New(demoserver.Config{AccessTTL: ttl})
		tok, err := srv.Login("demo", "demo")
		require.NoError(t, err)
		assert.Equal(t, want, tok.ExpiresIn, "ttl %v", ttl)
	}
}

func TestAPICounters(t *testing.T) {
	h := newHarness(t, demoserver.Config{})
	tok := h.login()
	for range 3 {
		h.requireAPIOK(tok.access)
	}
	h.api("/api/x", "")
	h.api("/api/x", "bogus")
	st := h.srv.Stats()
	assert.Equal(t, 5, st.APIRequests)
	assert.Equal(t, 2, st.API401)
}

func TestUnknownPath(t *testing.T) {
	h := newHarness(t, demoserver.Config{})
	r := h.api("/nope", "")
	assert.Equal(t, http.StatusNotFound, r.status)
	assert.Equal(t, "not_found", r.str("error"))
	assert.Zero(t, h.srv.Stats().APIRequests)
}
