package demoserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenrefresh/tokenrefresh/internal/demoserver"
	"github.com/tokenrefresh/tokenrefresh/internal/testlog"
)

// TestLogsNeverContainSecrets drives every logged path and then searches
// the log for every secret that crossed the wire.
func TestLogsNeverContainSecrets(t *testing.T) {
	const (
		password        = "correct-horse-battery"
		wrongPassword   = "wrong-horse-battery"
		pastedPassword  = "pasted-password-as-username"
		clientSecret    = "client-secret-value"
		badClientSecret = "bad-client-secret-value"
		bogusToken      = "bogus-token-value"
	)
	var logs testlog.Buffer
	h := newHarness(t, demoserver.Config{
		Rotate:       true,
		DetectReuse:  true,
		Users:        map[string]string{"demo": password},
		ClientID:     "cli",
		ClientSecret: clientSecret,
		Logger:       slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	secrets := []string{password, wrongPassword, pastedPassword, clientSecret, badClientSecret, bogusToken}
	keep := func(tok tokens) tokens {
		secrets = append(secrets, tok.access)
		if tok.refresh != "" {
			secrets = append(secrets, tok.refresh)
		}
		return tok
	}

	first := keep(h.loginAs("demo", password))
	h.postJSON("/login", map[string]string{"username": "demo", "password": wrongPassword})
	h.postJSON("/login", map[string]string{"username": pastedPassword, "password": "x"})
	h.postRaw("/login", "application/json", `{"username":"demo","password":"`+password) // malformed
	second := keep(h.refresh(first.refresh).tokens(t))
	h.refresh(first.refresh) // reuse: revokes the session
	h.refresh(bogusToken)
	h.api("/api/x", first.access)
	h.api("/api/x", bogusToken)
	h.api("/api/x", "")

	oauth := keep(h.postForm("/oauth2/token", url.Values{
		"grant_type": {"password"}, "username": {"demo"}, "password": {password},
		"client_id": {"cli"}, "client_secret": {clientSecret},
	}).tokens(t))
	h.postForm("/oauth2/token", url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {oauth.refresh},
		"client_id": {"cli"}, "client_secret": {badClientSecret},
	})
	keep(h.postForm("/oauth2/token", url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {oauth.refresh},
		"client_id": {"cli"}, "client_secret": {clientSecret},
	}).tokens(t))
	h.api("/api/x", oauth.access)
	h.srv.RevokeAccessTokens()
	h.api("/api/x", oauth.access)
	h.srv.RevokeSession("demo")
	h.api("/api/x", second.access)

	out := logs.String()
	for _, secret := range secrets {
		require.NotContains(t, out, secret)
	}

	// The log is not empty by accident: every kind of event is there,
	// with reasons.
	msgs := map[string][]string{}
	for line := range strings.Lines(out) {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec))
		msg, _ := rec["msg"].(string)
		reason, _ := rec["reason"].(string)
		msgs[msg] = append(msgs[msg], reason)
	}
	assert.Len(t, msgs["login"], 2)
	assert.ElementsMatch(t, []string{"wrong password", "unknown user"}, msgs["login rejected"])
	assert.Len(t, msgs["refresh"], 2)
	assert.Equal(t, []string{"refresh token already used"}, msgs["refresh token reuse detected"])
	assert.Equal(t, []string{"refresh token unknown"}, msgs["refresh rejected"])
	assert.Contains(t, msgs["api request rejected"], "access token revoked")
	assert.Contains(t, msgs["api request rejected"], "access token unknown")
	assert.Contains(t, msgs["api request rejected"], "missing bearer token")
	assert.ElementsMatch(t, []string{"malformed JSON body", "client authentication failed"}, msgs["request rejected"])
	assert.Contains(t, msgs, "sessions revoked")
	assert.Contains(t, msgs, "access tokens revoked")
	assert.NotContains(t, out, `"user":"`+pastedPassword)
}

func TestTokenResponseRedactsWhenPrinted(t *testing.T) {
	srv := demoserver.New(demoserver.Config{})
	tok, err := srv.Login("demo", "demo")
	require.NoError(t, err)

	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("got", "token", tok)
	for _, s := range []string{fmt.Sprint(tok), fmt.Sprintf("%+v", tok), fmt.Sprintf("%s", tok), buf.String()} {
		assert.NotContains(t, s, tok.AccessToken)
		assert.NotContains(t, s, tok.RefreshToken)
		assert.Contains(t, s, "redacted")
	}

	// The wire form, by contrast, carries the tokens.
	b, err := json.Marshal(tok)
	require.NoError(t, err)
	assert.Contains(t, string(b), tok.AccessToken)
}

// A nil Logger must not be dereferenced on any logging path.
func TestNilLoggerIsSafe(t *testing.T) {
	srv := demoserver.New(demoserver.Config{})
	_, err := srv.Login("demo", "nope")
	require.ErrorIs(t, err, demoserver.ErrInvalidCredentials)
	_, err = srv.Refresh(context.Background(), "nope")
	require.ErrorIs(t, err, demoserver.ErrInvalidGrant)
}
