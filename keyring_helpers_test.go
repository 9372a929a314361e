package tokenrefresh

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/tokenrefresh/tokenrefresh/internal/fakekeyring"
)

const (
	testService = "tokenrefresh-test"
	testAccount = "alice@example.com"
)

// randomText returns n bytes of random base64url text: as incompressible
// as a real signed JWT, and distinctive enough to search errors for.
func randomText(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}

// persistTestToken returns a token of about size bytes in total, with an ID
// token and scope, as a real OpenID Connect login returns.
func persistTestToken(t testing.TB, size int) *oauth2.Token {
	t.Helper()
	tok := &oauth2.Token{
		AccessToken:  randomText(t, max(size/2, 16)),
		TokenType:    "Bearer",
		RefreshToken: randomText(t, 64),
		Expiry:       time.Date(2031, 5, 6, 7, 8, 9, 123456789, time.UTC),
	}
	return tok.WithExtra(map[string]any{
		"id_token": randomText(t, max(size/2-64, 16)),
		"scope":    "openid email offline_access",
		"ignored":  "not persisted by default",
	})
}

// requireSameToken compares the persisted fields of two tokens.
func requireSameToken(t testing.TB, want, got *oauth2.Token, extras ...string) {
	t.Helper()
	require.NotNil(t, got)
	require.Equal(t, want.AccessToken, got.AccessToken)
	require.Equal(t, want.TokenType, got.TokenType)
	require.Equal(t, want.RefreshToken, got.RefreshToken)
	require.True(t, want.Expiry.Equal(got.Expiry), "expiry %v != %v", want.Expiry, got.Expiry)
	for _, name := range extras {
		require.Equal(t, want.Extra(name), got.Extra(name), "extra field %q", name)
	}
}

// requireNoTokenIn fails if any token value appears in text.
func requireNoTokenIn(t testing.TB, text string, toks ...*oauth2.Token) {
	t.Helper()
	for _, tok := range toks {
		for _, v := range []string{tok.AccessToken, tok.RefreshToken} {
			if v != "" {
				require.NotContains(t, text, v[:16], "an error or log contains a token value")
			}
		}
		if id, ok := tok.Extra("id_token").(string); ok && id != "" {
			require.NotContains(t, text, id[:16], "an error or log contains a token value")
		}
	}
}

func newFakeStore(k *fakekeyring.Keyring, opts ...KeyringOption) *KeyringStore {
	return NewKeyringStore(testService, testAccount, append([]KeyringOption{WithKeyring(k)}, opts...)...)
}

// contextCanceled returns a context that is already cancelled.
func contextCanceled(t *testing.T) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	return ctx, cancel
}
