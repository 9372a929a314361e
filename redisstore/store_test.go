package redisstore_test

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tokenrefresh/tokenrefresh"
	"github.com/tokenrefresh/tokenrefresh/redisstore"
	"golang.org/x/oauth2"
)

func newKey(t *testing.T) []byte {
	k := make([]byte, 32)
	_, err := rand.Read(k)
	require.NoError(t, err)
	return k
}

func testToken(access, refresh string) *oauth2.Token {
	return &oauth2.Token{
		AccessToken:  access,
		TokenType:    "Bearer",
		RefreshToken: refresh,
		Expiry:       time.Date(2031, 5, 6, 7, 8, 9, 123, time.UTC),
	}
}

func TestStoreRoundTrip(t *testing.T) {
	r := startRedis(t)
	ctx := context.Background()
	c := r.client(t)
	for _, tc := range []struct {
		name string
		opts []redisstore.StoreOption
	}{
		{"plain", nil},
		{"encrypted", []redisstore.StoreOption{redisstore.WithEncryptionKey(newKey(t))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := redisstore.NewStore(c, "rt:"+tc.name, tc.opts...)
			require.NoError(t, err)

			_, err = s.Load(ctx)
			require.ErrorIs(t, err, tokenrefresh.ErrNoToken, "missing key")

			tok := testToken("access-"+tc.name, "refresh-"+tc.name)
			require.NoError(t, s.Save(ctx, tok))
			got, err := s.Load(ctx)
			require.NoError(t, err)
			assert.Equal(t, tok.AccessToken, got.AccessToken)
			assert.Equal(t, tok.RefreshToken, got.RefreshToken)
			assert.Equal(t, tok.TokenType, got.TokenType)
			assert.True(t, tok.Expiry.Equal(got.Expiry))
			assert.Zero(t, got.ExpiresIn, "a loaded token must not carry expires_in")

			require.NoError(t, s.Delete(ctx))
			require.NoError(t, s.Delete(ctx), "deleting an empty store")
			_, err = s.Load(ctx)
			require.ErrorIs(t, err, tokenrefresh.ErrNoToken)
		})
	}
}

// TestEncryptionWrongKey: a replica with another key, or none, gets a clear
// ErrDecrypt, never sees or prints the token, and cannot overwrite it, not
// even through a Source that tries to refresh.
func TestEncryptionWrongKey(t *testing.T) {
	r := startRedis(t)
	ctx := context.Background()
	c := r.client(t)
	const key = "enc:session"
	right, err := redisstore.NewStore(c, key, redisstore.WithEncryptionKey(newKey(t)))
	require.NoError(t, err)
	wrong, err := redisstore.NewStore(c, key, redisstore.WithEncryptionKey(newKey(t)))
	require.NoError(t, err)
	plain, err := redisstore.NewStore(c, key)
	require.NoError(t, err)

	tok := testToken("secret-access-value", "secret-refresh-value")
	require.NoError(t, right.Save(ctx, tok))
	raw, err := c.Get(ctx, key).Bytes()
	require.NoError(t, err)
	assert.NotContains(t, string(raw), "secret", "the stored value must be sealed")

	for name, s := range map[string]*redisstore.Store{"wrong key": wrong, "no key": plain} {
		t.Run(name, func(t *testing.T) {
			_, err := s.Load(ctx)
			require.ErrorIs(t, err, redisstore.ErrDecrypt)
			assert.NotErrorIs(t, err, tokenrefresh.ErrNoToken)
			assert.NotContains(t, err.Error(), "secret")
			t.Logf("Load: %v", err)

			err = s.Save(ctx, testToken("other-access", "other-refresh"))
			require.ErrorIs(t, err, redisstore.ErrDecrypt)
			assert.NotContains(t, err.Error(), "secret")

			// A Source on the wrong key keeps its own token, refreshes
			// nothing and writes nothing.
			refreshed := 0
			src := tokenrefresh.NewSource(
				tokenrefresh.RefresherFunc(func(context.Context, *oauth2.Token) (*oauth2.Token, error) {
					refreshed++
					return testToken("new-access", "new-refresh"), nil
				}),
				tokenrefresh.WithStore(s),
				tokenrefresh.WithLocker(redisstore.NewLocker(c, key+":lock")),
				tokenrefresh.WithToken(testToken("stale-access", "stale-refresh")),
			)
			_, err = src.Refresh(ctx)
			require.Error(t, err)
			assert.NotErrorIs(t, err, tokenrefresh.ErrReauthRequired)
			assert.Zero(t, refreshed)

			after, err := c.Get(ctx, key).Bytes()
			require.NoError(t, err)
			assert.Equal(t, raw, after, "stored value must be unchanged")
		})
	}

	got, err := right.Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, tok.AccessToken, got.AccessToken)

	// A sealed value is bound to its key name.
	require.NoError(t, c.Set(ctx, "enc:copy", raw, 0).Err())
	moved, err := redisstore.NewStore(c, "enc:copy", redisstore.WithEncryptionKey(newKey(t)))
	require.NoError(t, err)
	_, err = moved.Load(ctx)
	require.ErrorIs(t, err, redisstore.ErrDecrypt)

	// An encrypted store does not take a plain value either.
	require.NoError(t, plain.Delete(ctx))
	require.NoError(t, plain.Save(ctx, tok))
	_, err = right.Load(ctx)
	require.ErrorIs(t, err, redisstore.ErrDecrypt)
}

func TestEncryptionKeySize(t *testing.T) {
	_, err := redisstore.NewStore(nil, "k", redisstore.WithEncryptionKey(make([]byte, 16)))
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "32"), err.Error())
}
