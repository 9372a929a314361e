package demoserver_test

import (
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenrefresh/tokenrefresh/internal/demoserver"
)

func TestDefaults(t *testing.T) {
	before := time.Now()
	srv := demoserver.New(demoserver.Config{})
	tok, err := srv.Login("demo", "demo")
	require.NoError(t, err)

	assert.EqualValues(t, 60, tok.ExpiresIn)
	// Default clock is the real one.
	assert.WithinDuration(t, before.Add(demoserver.DefaultAccessTTL), tok.Expiry, time.Minute)
	assert.Equal(t, demoserver.DefaultRefreshTTL, tok.RefreshExpiry.Sub(tok.Expiry)+demoserver.DefaultAccessTTL)
	assert.Len(t, tok.AccessToken, demoserver.DefaultAccessTokenSize)
}

func TestDefaultUsersIsFresh(t *testing.T) {
	users := demoserver.DefaultUsers()
	assert.Equal(t, map[string]string{"demo": "demo"}, users)
	users["demo"] = "changed"
	assert.Equal(t, "demo", demoserver.DefaultUsers()["demo"])
}

func TestAccessTokenSize(t *testing.T) {
	urlSafe := regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	for size, want := range map[int]int{
		0:    demoserver.DefaultAccessTokenSize,
		1:    demoserver.MinAccessTokenSize,
		-5:   demoserver.MinAccessTokenSize,
		22:   22,
		23:   23,
		800:  800,
		4097: 4097,
	} {
		srv := demoserver.New(demoserver.Config{AccessTokenSize: size})
		tok, err := srv.Login("demo", "demo")
		require.NoError(t, err)
		assert.Len(t, tok.AccessToken, want, "AccessTokenSize %d", size)
		assert.Regexp(t, urlSafe, tok.AccessToken)
		assert.Regexp(t, urlSafe, tok.RefreshToken)
	}
}

func TestNegativeDurationsUseDefaults(t *testing.T) {
	clock := newFakeClock()
	srv := demoserver.New(demoserver.Config{AccessTTL: -time.Second, RefreshTTL: -time.Second, Now: clock.Now})
	tok, err := srv.Login("demo", "demo")
	require.NoError(t, err)
	assert.Equal(t, clock.Now().Add(demoserver.DefaultAccessTTL), tok.Expiry)
	assert.Equal(t, clock.Now().Add(demoserver.DefaultRefreshTTL), tok.RefreshExpiry)
}
