package demoserver_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/tokenrefresh/tokenrefresh/internal/demoserver"
)

// oauthConfig returns an x/oauth2 client for h's token endpoint, and a
// context making x/oauth2 use h's loopback client.
func (h *harness) oauthConfig(id, secret string, style oauth2.AuthStyle) (*oauth2.Config, context.Context) {
	conf := &oauth2.Config{
		ClientID:     id,
		ClientSecret: secret,
		Endpoint:     oauth2.Endpoint{TokenURL: h.ts.URL + "/oauth2/token", AuthStyle: style},
	}
	return conf, context.WithValue(context.Background(), oauth2.HTTPClient, h.ts.Client())
}

// refreshWith makes x/oauth2 refresh tok by presenting it as expired.
func refreshWith(ctx context.Context, conf *oauth2.Config, tok *oauth2.Token) (*oauth2.Token, error) {
	stale := *tok
	stale.Expiry = time.Now().Add(-time.Hour)
	return conf.TokenSource(ctx, &stale).Token()
}

func requireRetrieveError(t *testing.T, err error, status int, code string) *oauth2.RetrieveError {
	t.Helper()
	var rerr *oauth2.RetrieveError
	require.ErrorAs(t, err, &rerr)
	require.NotNil(t, rerr.Response)
	assert.Equal(t, status, rerr.Response.StatusCode)
	assert.Equal(t, code, rerr.ErrorCode)
	return rerr
}

func TestOAuth2InteropRotating(t *testing.T) {
	h := newHarness(t, demoserver.Config{Rotate: true, AccessTTL: time.Minute})
	conf, ctx := h.oauthConfig("any-client", "", oauth2.AuthStyleAutoDetect)

	tok, err := conf.PasswordCredentialsToken(ctx, "demo", "demo")
	require.NoError(t, err)
	require.NotEmpty(t, tok.AccessToken)
	require.NotEmpty(t, tok.RefreshToken)
	assert.Equal(t, "Bearer", tok.TokenType)
	assert.WithinDuration(t, time.Now().Add(time.Minute), tok.Expiry, 10*time.Second)

	// The token works against the API through x/oauth2's transport.
	resp, err := conf.Client(ctx, tok).Get(h.ts.URL + "/api/me")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	next, err := refreshWith(ctx, conf, tok)
	require.NoError(t, err)
	assert.NotEqual(t, tok.AccessToken, next.AccessToken)
	assert.NotEqual(t, tok.RefreshToken, next.RefreshToken, "rotation must hand out a new refresh token")
	h.requireAPIOK(next.AccessToken)

	_, err = refreshWith(ctx, conf, tok)
	rerr := requireRetrieveError(t, err, http.StatusBadRequest, "invalid_grant")
	assert.Equal(t, "refresh token already used", rerr.ErrorDescription)

	st := h.srv.Stats()
	assert.Equal(t, 1, st.Logins)
	assert.Equal(t, 1, st.Refreshes)
	assert.Equal(t, 1, st.ReuseDetected)
}

func TestOAuth2InteropNonRotating(t *testing.T) {
	h := newHarness(t, demoserver.Config{})
	conf, ctx := h.oauthConfig("", "", oauth2.AuthStyleInParams)
	tok, err := conf.PasswordCredentialsToken(ctx, "demo", "demo")
	require.NoError(t, err)

	next, err := refreshWith(ctx, conf, tok)
	require.NoError(t, err)
	// The server omitted refresh_token, so x/oauth2 keeps the old one.
	assert.Equal(t, tok.RefreshToken, next.RefreshToken)
	assert.NotEqual(t, tok.AccessToken, next.AccessToken)
	_, err = refreshWith(ctx, conf, next)
	require.NoError(t, err)
}

func TestOAuth2InteropBadCredentials(t *testing.T) {
	h := newHarness(t, demoserver.Config{})
	conf, ctx := h.oauthConfig("", "", oauth2.AuthStyleInParams)
	_, err := conf.PasswordCredentialsToken(ctx, "demo", "wrong")
	requireRetrieveError(t, err, http.StatusBadRequest, "invalid_grant")

	_, err = refreshWith(ctx, conf, &oauth2.Token{AccessToken: "x", RefreshToken: "bogus"})
	rerr := requireRetrieveError(t, err, http.StatusBadRequest, "invalid_grant")
	assert.Equal(t, "refresh token unknown", rerr.ErrorDescription)
	assert.Equal(t, 1, h.srv.Stats().LoginFailures)
}

func TestOAuth2ClientAuthentication(t *testing.T) {
	// Characters that RFC 6749 section 2.3.1 form-encodes inside Basic.
	const id, secret = "my client:1", "s3cr%t/+="
	h := newHarness(t, demoserver.Config{ClientID: id, ClientSecret: secret, Rotate: true})

	for name, style := range map[string]oauth2.AuthStyle{
		"basic":  oauth2.AuthStyleInHeader,
		"params": oauth2.AuthStyleInParams,
		"auto":   oauth2.AuthStyleAutoDetect,
	} {
		t.Run(name, func(t *testing.T) {
			conf, ctx := h.oauthConfig(id, secret, style)
			tok, err := conf.PasswordCredentialsToken(ctx, "demo", "demo")
			require.NoError(t, err)
			_, err = refreshWith(ctx, conf, tok)
			require.NoError(t, err)
		})
		t.Run(name+" wrong secret", func(t *testing.T) {
			conf, ctx := h.oauthConfig(id, "nope", style)
			_, err := conf.PasswordCredentialsToken(ctx, "demo", "demo")
			rerr := requireRetrieveError(t, err, http.StatusUnauthorized, "invalid_client")
			assert.Equal(t, `Basic realm="tokenrefresh-demo"`, rerr.Response.Header.Get("WWW-Authenticate"))
		})
	}
	t.Run("wrong id", func(t *testing.T) {
		conf, ctx := h.oauthConfig("other", secret, oauth2.AuthStyleInParams)
		_, err := conf.PasswordCredentialsToken(ctx, "demo", "demo")
		requireRetrieveError(t, err, http.StatusUnauthorized, "invalid_client")
	})
	t.Run("no client", func(t *testing.T) {
		r := h.postForm("/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"demo"}, "password": {"demo"}})
		assert.Equal(t, http.StatusUnauthorized, r.status)
		assert.Equal(t, "invalid_client", r.str("error"))
	})
	t.Run("two methods", func(t *testing.T) {
		req := h.request(http.MethodPost, "/oauth2/token", "application/x-www-form-urlencoded",
			url.Values{"grant_type": {"password"}, "username": {"demo"}, "password": {"demo"},
				"client_id": {id}, "client_secret": {secret}}.Encode())
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
		r := h.do(req)
		assert.Equal(t, http.StatusBadRequest, r.status)
		assert.Equal(t, "invalid_request", r.str("error"))
	})
	t.Run("bad escaping", func(t *testing.T) {
		req := h.request(http.MethodPost, "/oauth2/token", "application/x-www-form-urlencoded",
			url.Values{"grant_type": {"password"}, "username": {"demo"}, "password": {"demo"}}.Encode())
		req.SetBasicAuth("%zz", secret)
		r := h.do(req)
		assert.Equal(t, http.StatusUnauthorized, r.status)
		assert.Equal(t, "invalid_client", r.str("error"))
	})

	// Wrong secret: basic 1, params 1, auto 2 (x/oauth2 retries with
	// params); then wrong id, no client and bad escaping.
	assert.Equal(t, 1+1+2+1+1+1, h.srv.Stats().ClientAuthFailures)
}

func TestOAuth2ClientIgnoredWhenNotConfigured(t *testing.T) {
	h := newHarness(t, demoserver.Config{})
	conf, ctx := h.oauthConfig("whoever", "whatever", oauth2.AuthStyleInHeader)
	_, err := conf.PasswordCredentialsToken(ctx, "demo", "demo")
	require.NoError(t, err)
}

func TestOAuth2TokenEndpointErrors(t *testing.T) {
	h := newHarness(t, demoserver.Config{})
	login := h.login()
	const form = "application/x-www-form-urlencoded"
	cases := []struct {
		name, method, contentType, body string
		status                          int
		code                            string
	}{
		{"GET", http.MethodGet, "", "", http.StatusMethodNotAllowed, "invalid_request"},
		{"json body", http.MethodPost, "application/json", `{"grant_type":"password","username":"demo","password":"demo"}`, http.StatusBadRequest, "invalid_request"},
		{"no grant type", http.MethodPost, form, "username=demo&password=demo", http.StatusBadRequest, "invalid_request"},
		{"repeated grant type", http.MethodPost, form, "grant_type=password&grant_type=password&username=demo&password=demo", http.StatusBadRequest, "invalid_request"},
		{"unsupported grant", http.MethodPost, form, "grant_type=authorization_code&code=x", http.StatusBadRequest, "unsupported_grant_type"},
		{"password without password", http.MethodPost, form, "grant_type=password&username=demo", http.StatusBadRequest, "invalid_request"},
		{"refresh without token", http.MethodPost, form, "grant_type=refresh_token", http.StatusBadRequest, "invalid_request"},
		{"bad password", http.MethodPost, form, "grant_type=password&username=demo&password=x", http.StatusBadRequest, "invalid_grant"},
		{"unknown refresh", http.MethodPost, form, "grant_type=refresh_token&refresh_token=x", http.StatusBadRequest, "invalid_grant"},
		{"access as refresh", http.MethodPost, form, "grant_type=refresh_token&refresh_token=" + login.access, http.StatusBadRequest, "invalid_grant"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := h.do(h.request(c.method, "/oauth2/token", c.contentType, c.body))
			assert.Equal(t, c.status, r.status, r.raw)
			assert.Equal(t, c.code, r.str("error"))
			assert.NotEmpty(t, r.str("error_description"))
			assert.Equal(t, "no-store", r.header.Get("Cache-Control"))
			assert.Equal(t, "no-cache", r.header.Get("Pragma"))
		})
	}
	st := h.srv.Stats()
	assert.Equal(t, 7, st.BadRequests)
	assert.Equal(t, 1, st.LoginFailures)
	assert.Equal(t, 2, st.RefreshRejected)
}

func TestOAuth2SuccessHeaders(t *testing.T) {
	h := newHarness(t, demoserver.Config{})
	r := h.postForm("/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"demo"}, "password": {"demo"}, "scope": {"read"}})
	r.tokens(t)
	assert.Equal(t, "no-store", r.header.Get("Cache-Control"))
	assert.Equal(t, "no-cache", r.header.Get("Pragma"))
	assert.Equal(t, "Bearer", r.str("token_type"))
}
