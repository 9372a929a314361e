package interop

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/tokenrefresh/tokenrefresh"
)

// TestRevokedSession revokes the session at fosite through its RFC 7009
// endpoint, which revokes the refresh token family together with the
// access token. The client must end the session: ErrReauthRequired through
// http.Client, OnReauth once, the store cleared. Then the user logs in
// again, and traffic and refreshes resume.
func TestRevokedSession(t *testing.T) {
	const n = 50
	for _, tc := range []struct {
		name string
		// expire moves the client's clock to the access token's expiry,
		// so the client refreshes before sending; otherwise it learns of
		// the revoked access token from a 401.
		expire bool
	}{
		{name: "access token revoked", expire: false},
		{name: "access token expired", expire: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			srv := newServer(t, Config{})
			clock := newManualClock()
			store := tokenrefresh.NewMemoryStore(nil)
			var reauth reauthRecorder
			src := tokenrefresh.NewSource(tokenrefresh.OAuth2Refresher(srv.OAuth2Config()),
				tokenrefresh.WithStore(store),
				tokenrefresh.WithClock(clock.Now),
				tokenrefresh.OnReauth(reauth.record),
			)
			client := newClient(t, src)
			login(t, srv, src)
			status, _ := get(t, client, srv.URL+PathData)
			require.Equal(t, http.StatusOK, status)

			stored, err := store.Load(ctx)
			require.NoError(t, err)
			require.NoError(t, srv.Revoke(ctx, stored.RefreshToken, "refresh_token"))
			if tc.expire {
				clock.Set(stored.Expiry)
			}
			before := srv.Stats()

			res := burst(ctx, client, srv.URL+PathData, n)

			for i, r := range res {
				require.Error(t, r.err, "request %d: status %d", i, r.status)
				var ue *url.Error
				require.ErrorAs(t, r.err, &ue, "request %d", i)
				require.ErrorIs(t, r.err, tokenrefresh.ErrReauthRequired, "request %d", i)
			}
			assert.EqualValues(t, 1, reauth.calls.Load(), "OnReauth calls")
			var re *tokenrefresh.RefreshError
			require.ErrorAs(t, reauth.last(), &re)
			assert.True(t, re.Permanent)
			assert.Equal(t, http.StatusBadRequest, re.StatusCode)
			assert.Equal(t, "invalid_grant", re.ErrorCode)
			_, err = store.Load(ctx)
			assert.ErrorIs(t, err, tokenrefresh.ErrNoToken, "store after the session ended")

			after := srv.Stats()
			assert.Equal(t, 1, after.RefreshGrants-before.RefreshGrants, "refresh grants: one attempt, shared by all requests")
			assert.Zero(t, after.RefreshOK-before.RefreshOK, "successful refresh grants")
			assert.Zero(t, after.RefreshTokensReplayed, "refresh tokens presented twice")
			// fosite cannot tell a revoked refresh token from a spent one:
			// the client's one attempt with it runs its reuse handling.
			assert.Equal(t, 1, after.ReuseDetections, "fosite reuse detections")
			rejected := after.Resource401 - before.Resource401
			if tc.expire {
				assert.Zero(t, rejected, "401s: the client refreshed before sending")
			} else {
				assert.Positive(t, rejected, "401s for the revoked access token")
			}
			assert.Equal(t, rejected, after.Resource-before.Resource, "resource requests other than the rejected ones")

			// Later requests fail at once, without a request to fosite.
			_, err = client.Get(srv.URL + PathData)
			require.ErrorIs(t, err, tokenrefresh.ErrReauthRequired)
			assert.Equal(t, after, srv.Stats(), "server traffic after the session ended")
			assert.EqualValues(t, 1, reauth.calls.Load(), "OnReauth calls")

			t.Run("re-login", func(t *testing.T) {
				tok := login(t, srv, src)
				status, _ := get(t, client, srv.URL+PathData)
				require.Equal(t, http.StatusOK, status)
				assert.Equal(t, 1, srv.OKWith(tok.AccessToken), "requests answered 200 with the new login's token")
				saved, err := store.Load(ctx)
				require.NoError(t, err)
				assert.Equal(t, tok.AccessToken, saved.AccessToken, "store holds the new login's token")

				// The new session refreshes like the first one did.
				before := srv.Stats()
				clock.Set(current(t, src).Expiry)
				status, _ = get(t, client, srv.URL+PathData)
				require.Equal(t, http.StatusOK, status)
				after := srv.Stats()
				assert.Equal(t, 1, after.RefreshOK-before.RefreshOK, "successful refresh grants in the new session")
				assert.Equal(t, after.RefreshGrants-before.RefreshGrants, after.RefreshOK-before.RefreshOK, "failed refresh grants")
				refreshed := current(t, src)
				assert.NotEqual(t, tok.AccessToken, refreshed.AccessToken)
				assert.Equal(t, 1, srv.OKWith(refreshed.AccessToken))
				assert.EqualValues(t, 1, reauth.calls.Load(), "OnReauth calls")
			})
		})
	}
}

// TestFositeRevokesFamilyOnReuse proves that the server under test really
// rotates refresh tokens and punishes reuse: presenting a spent refresh
// token revokes the token that replaced it and its access token. A client
// that refreshed the same token twice would end its own session this way.
// The legitimate holder of the family, a tokenrefresh Source, then ends
// the session cleanly.
func TestFositeRevokesFamilyOnReuse(t *testing.T) {
	ctx := t.Context()
	srv := newServer(t, Config{})
	cfg := srv.OAuth2Config()
	tok0, err := srv.Login(ctx)
	require.NoError(t, err)

	tok1, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok0.RefreshToken}).Token()
	require.NoError(t, err)
	require.NotEqual(t, tok0.RefreshToken, tok1.RefreshToken, "fosite rotated the refresh token")
	assert.Zero(t, srv.Stats().ReuseDetections)

	// The spent refresh token is presented again, as a stolen copy would be.
	_, err = cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok0.RefreshToken}).Token()
	var rerr *oauth2.RetrieveError
	require.ErrorAs(t, err, &rerr)
	assert.Equal(t, "invalid_grant", rerr.ErrorCode)
	st := srv.Stats()
	assert.Equal(t, 1, st.RefreshTokensReplayed, "refresh tokens presented twice")
	assert.Equal(t, 1, st.ReuseDetections, "fosite reuse detections")

	// tok1 belongs to the revoked family. Its holder gets a 401, refreshes
	// once, is refused, and the session ends.
	var reauth reauthRecorder
	src := tokenrefresh.NewSource(tokenrefresh.OAuth2Refresher(cfg), tokenrefresh.OnReauth(reauth.record))
	require.NoError(t, src.SetToken(ctx, tok1))
	client := newClient(t, src)
	_, err = client.Get(srv.URL + PathData)
	require.ErrorIs(t, err, tokenrefresh.ErrReauthRequired)
	assert.EqualValues(t, 1, reauth.calls.Load(), "OnReauth calls")
	after := srv.Stats()
	assert.Equal(t, 1, after.Resource401-st.Resource401, "401 for tok1's revoked access token")
	assert.Equal(t, 1, after.RefreshGrants-st.RefreshGrants, "refresh grants by the Source")
	assert.Zero(t, after.RefreshOK-st.RefreshOK, "successful refresh grants by the Source")
	assert.Equal(t, 1, after.ReuseDetections-st.ReuseDetections, "fosite reuse detections: rt1 is inactive too")
}
