package interop

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenrefresh/tokenrefresh"
)

// TestStorm sends 1,000 requests at once at the moment the access token
// expires, then 1,000 more after fosite revoked the new access token. Each
// round must cost fosite exactly one refresh grant, and no refresh token
// may ever reach fosite twice: with rotation, a second use would revoke
// the session.
func TestStorm(t *testing.T) {
	const n = 1000
	ctx := t.Context()
	// Access tokens live an hour at fosite; the client's manual clock
	// decides when they expire on the client side.
	srv := newServer(t, Config{})
	clock := newManualClock()
	src := tokenrefresh.NewSource(tokenrefresh.OAuth2Refresher(srv.OAuth2Config()), tokenrefresh.WithClock(clock.Now))
	client := newClient(t, src)
	login(t, srv, src)

	status, _ := get(t, client, srv.URL+PathData)
	require.Equal(t, http.StatusOK, status)

	t.Run("expiry", func(t *testing.T) {
		old := current(t, src)
		before := srv.Stats()
		clock.Set(old.Expiry) // the moment the token expires

		res := burst(ctx, client, srv.URL+PathData, n)

		assertAllStatus(t, res, http.StatusOK)
		after := srv.Stats()
		assert.Equal(t, 1, after.RefreshGrants-before.RefreshGrants, "refresh grants at fosite")
		assert.Equal(t, 1, after.RefreshOK-before.RefreshOK, "successful refresh grants")
		assert.Zero(t, after.RefreshTokensReplayed, "refresh tokens presented twice")
		assert.Zero(t, after.ReuseDetections, "fosite reuse detections")
		assert.Zero(t, after.Resource401-before.Resource401, "401s: no request may carry the expired token")

		tok := current(t, src)
		assert.NotEqual(t, old.AccessToken, tok.AccessToken)
		assert.NotEqual(t, old.RefreshToken, tok.RefreshToken, "fosite rotates refresh tokens")
		assert.Equal(t, n, srv.OKWith(tok.AccessToken), "requests answered 200 with the refreshed token")
		t.Logf("expiry round: %d requests, %d refresh grant(s)", n, after.RefreshGrants-before.RefreshGrants)
	})

	t.Run("revoked", func(t *testing.T) {
		old := current(t, src)
		require.NoError(t, srv.RevokeAccessToken(ctx, old.AccessToken))
		before := srv.Stats()

		res := burst(ctx, client, srv.URL+PathData, n)

		assertAllStatus(t, res, http.StatusOK)
		after := srv.Stats()
		assert.Equal(t, 1, after.RefreshGrants-before.RefreshGrants, "refresh grants at fosite")
		assert.Equal(t, 1, after.RefreshOK-before.RefreshOK, "successful refresh grants")
		assert.Zero(t, after.RefreshTokensReplayed, "refresh tokens presented twice")
		assert.Zero(t, after.ReuseDetections, "fosite reuse detections")
		rejected := after.Resource401 - before.Resource401
		assert.Positive(t, rejected, "401s for the revoked token")
		assert.LessOrEqual(t, rejected, n, "401s: each request retried at most once")
		assert.Equal(t, n+rejected, after.Resource-before.Resource, "resource requests: one per request plus one retry per 401")

		tok := current(t, src)
		assert.NotEqual(t, old.AccessToken, tok.AccessToken)
		assert.NotEqual(t, old.RefreshToken, tok.RefreshToken, "fosite rotates refresh tokens")
		assert.Equal(t, n, srv.OKWith(tok.AccessToken), "requests answered 200 with the refreshed token")
		t.Logf("revoked round: %d requests, %d answered 401 and retried, %d refresh grant(s)", n, rejected, after.RefreshGrants-before.RefreshGrants)
	})
}

// assertAllStatus checks that every request of a burst got status.
func assertAllStatus(t *testing.T, res []result, status int) {
	t.Helper()
	failed, wrong := 0, 0
	for _, r := range res {
		switch {
		case r.err != nil:
			if failed == 0 {
				t.Errorf("first failed request: %v", r.err)
			}
			failed++
		case r.status != status:
			if wrong == 0 {
				t.Errorf("first unexpected status: %d", r.status)
			}
			wrong++
		}
	}
	assert.Zero(t, failed, "failed requests")
	assert.Zero(t, wrong, "requests with a status other than %d", status)
}
