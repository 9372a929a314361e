package demoserver_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenrefresh/tokenrefresh/internal/demoserver"
)

func TestLoginJSONAndForm(t *testing.T) {
	h := newHarness(t, demoserver.Config{})
	for name, res := range map[string]func() result{
		"json": func() result {
			return h.postJSON("/login", map[string]string{"username": "demo", "password": "demo"})
		},
		"json with charset": func() result {
			return h.postRaw("/login", "application/json; charset=utf-8", `{"username":"demo","password":"demo"}`)
		},
		"form": func() result {
			return h.postForm("/login", url.Values{"username": {"demo"}, "password": {"demo"}})
		},
	} {
		t.Run(name, func(t *testing.T) {
			r := res()
			require.Equal(t, http.StatusOK, r.status, r.raw)
			assert.Equal(t, "Bearer", r.str("token_type"))
			assert.EqualValues(t, 60, r.body["expires_in"])
			assert.Len(t, r.str("access_token"), demoserver.DefaultAccessTokenSize)
			assert.NotEmpty(t, r.str("refresh_token"))
			assert.NotEqual(t, r.str("access_token"), r.str("refresh_token"))
			assert.Equal(t, "no-store", r.header.Get("Cache-Control"))
			assert.Equal(t, "application/json", r.header.Get("Content-Type"))
			h.requireAPIOK(r.str("access_token"))
		})
	}
	assert.Equal(t, 3, h.srv.Stats().Logins)
}

func TestLoginIssuesDistinctTokens(t *testing.T) {
	h := newHarness(t, demoserver.Config{})
	seen := map[string]bool{}
	for range 20 {
		tok := h.login()
		for _, v := range []string{tok.access, tok.refresh} {
			require.False(t, seen[v], "token issued twice")
			seen[v] = true
		}
	}
}

func TestLoginBadCredentials(t *testing.T) {
	h := newHarness(t, demoserver.Config{})
	cases := map[string]result{
		"wrong password json": h.postJSON("/login", map[string]string{"username": "demo", "password": "nope"}),
		"unknown user json":   h.postJSON("/login", map[string]string{"username": "mallory", "password": "demo"}),
		"wrong password form": h.postForm("/login", url.Values{"username": {"demo"}, "password": {"Demo"}}),
		"prefix password":     h.postForm("/login", url.Values{"username": {"demo"}, "password": {"dem"}}),
	}
	for name, r := range cases {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, http.StatusUnauthorized, r.status, r.raw)
			assert.Equal(t, "invalid_credentials", r.str("error"))
			assert.NotContains(t, r.body, "access_token")
		})
	}
	st := h.srv.Stats()
	assert.Equal(t, len(cases), st.LoginFailures)
	assert.Zero(t, st.Logins)
	assert.Zero(t, st.BadRequests)
}

func TestLoginMalformed(t *testing.T) {
	h := newHarness(t, demoserver.Config{})
	const form = "application/x-www-form-urlencoded"
	cases := []struct {
		name, method, contentType, body string
		status                          int
		desc                            string
	}{
		{"GET", http.MethodGet, "", "", http.StatusMethodNotAllowed, "method GET not allowed, use POST"},
		{"PUT", http.MethodPut, "application/json", `{}`, http.StatusMethodNotAllowed, "method PUT not allowed, use POST"},
		{"no content type", http.MethodPost, "", `{"username":"demo","password":"demo"}`, http.StatusBadRequest, "missing Content-Type"},
		{"text/plain", http.MethodPost, "text/plain", "demo:demo", http.StatusBadRequest, `unsupported Content-Type "text/plain"`},
		{"bad content type", http.MethodPost, "application/json; =", "{}", http.StatusBadRequest, "malformed Content-Type"},
		{"broken json", http.MethodPost, "application/json", `{"username":`, http.StatusBadRequest, "malformed JSON body"},
		{"empty json body", http.MethodPost, "application/json", ``, http.StatusBadRequest, "malformed JSON body"},
		{"json array", http.MethodPost, "application/json", `["demo","demo"]`, http.StatusBadRequest, "body must be a JSON object"},
		{"json null", http.MethodPost, "application/json", `null`, http.StatusBadRequest, "body must be a JSON object"},
		{"trailing json", http.MethodPost, "application/json", `{"username":"demo","password":"demo"}{}`, http.StatusBadRequest, "unexpected data after the JSON object"},
		{"missing username", http.MethodPost, "application/json", `{"password":"demo"}`, http.StatusBadRequest, "missing username"},
		{"null username", http.MethodPost, "application/json", `{"username":null,"password":"demo"}`, http.StatusBadRequest, "missing username"},
		{"missing password", http.MethodPost, "application/json", `{"username":"demo"}`, http.StatusBadRequest, "missing password"},
		{"empty password", http.MethodPost, "application/json", `{"username":"demo","password":""}`, http.StatusBadRequest, "missing password"},
		{"numeric username", http.MethodPost, "application/json", `{"username":7,"password":"demo"}`, http.StatusBadRequest, "field username must be a string"},
		{"missing form password", http.MethodPost, form, "username=demo", http.StatusBadRequest, "missing password"},
		{"repeated form field", http.MethodPost, form, "username=demo&username=x&password=demo", http.StatusBadRequest, "parameter username given more than once"},
		{"malformed form", http.MethodPost, form, "username=%zz&password=demo", http.StatusBadRequest, "malformed form body"},
		{"oversized", http.MethodPost, "application/json", `{"username":"` + strings.Repeat("a", 70<<10) + `"}`, http.StatusRequestEntityTooLarge, "request body larger than"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := h.do(h.request(c.method, "/login", c.contentType, c.body))
			assert.Equal(t, c.status, r.status, r.raw)
			assert.Equal(t, "invalid_request", r.str("error"))
			assert.Contains(t, r.str("error_description"), c.desc)
			if c.status == http.StatusMethodNotAllowed {
				assert.Equal(t, http.MethodPost, r.header.Get("Allow"))
			}
		})
	}
	st := h.srv.Stats()
	assert.Equal(t, len(cases), st.BadRequests)
	assert.Zero(t, st.Logins+st.LoginFailures)
}

func TestLoginCredentialsInQueryStringIgnored(t *testing.T) {
	h := newHarness(t, demoserver.Config{})
	r := h.postRaw("/login?username=demo&password=demo", "application/x-www-form-urlencoded", "")
	assert.Equal(t, http.StatusBadRequest, r.status, r.raw)
	assert.Equal(t, "missing username", r.str("error_description"))
}

func TestLoginCustomUsers(t *testing.T) {
	users := map[string]string{"alice": "wonderland"}
	h := newHarness(t, demoserver.Config{Users: users})
	// New must have copied the map.
	users["eve"] = "eve"
	delete(users, "alice")

	h.loginAs("alice", "wonderland")
	for _, c := range [][2]string{{"demo", "demo"}, {"eve", "eve"}} {
		r := h.postJSON("/login", map[string]string{"username": c[0], "password": c[1]})
		assert.Equal(t, http.StatusUnauthorized, r.status, "user %s", c[0])
	}
}

func TestLoginNoUsers(t *testing.T) {
	h := newHarness(t, demoserver.Config{Users: map[string]string{}})
	r := h.postJSON("/login", map[string]string{"username": "demo", "password": "demo"})
	assert.Equal(t, http.StatusUnauthorized, r.status)
}

func TestInProcessLogin(t *testing.T) {
	h := newHarness(t, demoserver.Config{AccessTTL: 90 * time.Second, RefreshTTL: time.Hour})
	_, err := h.srv.Login("demo", "wrong")
	require.ErrorIs(t, err, demoserver.ErrInvalidCredentials)

	tok, err := h.srv.Login("demo", "demo")
	require.NoError(t, err)
	assert.Equal(t, "Bearer", tok.TokenType)
	assert.EqualValues(t, 90, tok.ExpiresIn)
	assert.Equal(t, h.clock.Now().Add(90*time.Second), tok.Expiry)
	assert.Equal(t, h.clock.Now().Add(time.Hour), tok.RefreshExpiry)
	h.requireAPIOK(tok.AccessToken)
	require.Equal(t, http.StatusOK, h.refresh(tok.RefreshToken).status)

	st := h.srv.Stats()
	assert.Equal(t, 1, st.Logins)
	assert.Equal(t, 1, st.LoginFailures)
}
