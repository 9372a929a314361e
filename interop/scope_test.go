package interop

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenrefresh/tokenrefresh"
)

// TestInsufficientScope checks that a token without the scope a route
// demands is not refreshed, whether the resource server says so with a 403
// (RFC 6750 section 3.1) or with a 401: a new token would carry the same
// scopes. A 401 invalid_token on the same route still is refreshed.
func TestInsufficientScope(t *testing.T) {
	ctx := t.Context()
	srv := newServer(t, Config{})
	src := tokenrefresh.NewSource(tokenrefresh.OAuth2Refresher(srv.OAuth2Config()))
	client := newClient(t, src)
	tok := login(t, srv, src)
	status, _ := get(t, client, srv.URL+PathData)
	require.Equal(t, http.StatusOK, status)

	for _, tc := range []struct {
		path   string
		status int
	}{
		{PathAdmin, http.StatusForbidden},
		{PathAdmin401, http.StatusUnauthorized},
	} {
		t.Run(tc.path, func(t *testing.T) {
			before := srv.Stats()
			status, h := get(t, client, srv.URL+tc.path)
			assert.Equal(t, tc.status, status)
			assert.Contains(t, h.Get("WWW-Authenticate"), `error="insufficient_scope"`)
			after := srv.Stats()
			assert.Zero(t, after.RefreshGrants-before.RefreshGrants, "refresh grants")
			assert.Equal(t, 1, after.Resource-before.Resource, "resource requests: the request was not retried")
			assert.Equal(t, tok.AccessToken, current(t, src).AccessToken, "token in use")
		})
	}

	t.Run("invalid_token first", func(t *testing.T) {
		// fosite checks the token before its scopes: a revoked token gets
		// 401 invalid_token, which a refresh cures, and the retry then
		// meets the scope check.
		require.NoError(t, srv.RevokeAccessToken(ctx, tok.AccessToken))
		before := srv.Stats()
		status, h := get(t, client, srv.URL+PathAdmin)
		assert.Equal(t, http.StatusForbidden, status)
		assert.Contains(t, h.Get("WWW-Authenticate"), `error="insufficient_scope"`)
		after := srv.Stats()
		assert.Equal(t, 1, after.RefreshOK-before.RefreshOK, "successful refresh grants")
		assert.Equal(t, 1, after.RefreshGrants-before.RefreshGrants, "refresh grants")
		assert.Equal(t, 1, after.Resource401-before.Resource401, "401 for the revoked token")
		assert.Equal(t, 1, after.Resource403-before.Resource403, "403 for the refreshed token")
		assert.NotEqual(t, tok.AccessToken, current(t, src).AccessToken, "token in use")
	})
}
