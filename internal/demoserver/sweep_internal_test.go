package demoserver

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSweepForgetsOldTokens checks that memory stays bounded: tokens are
// kept one TTL past expiry (so clients hear "expired"), then forgotten.
func TestSweepForgetsOldTokens(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	srv := New(Config{
		AccessTTL:  time.Minute,
		RefreshTTL: time.Hour,
		Rotate:     true,
		Now:        func() time.Time { return now }, // only this goroutine runs
	})
	old, err := srv.Login("demo", "demo")
	require.NoError(t, err)
	_, err = srv.Refresh(context.Background(), old.RefreshToken)
	require.NoError(t, err)

	now = now.Add(time.Hour)
	_, err = srv.Refresh(context.Background(), old.RefreshToken)
	require.ErrorIs(t, err, ErrTokenExpired)

	// Two TTLs later, and enough issues to trigger a sweep.
	now = now.Add(time.Hour)
	for range minSweepInterval {
		_, err := srv.Login("demo", "demo")
		require.NoError(t, err)
	}
	_, err = srv.Refresh(context.Background(), old.RefreshToken)
	require.ErrorIs(t, err, ErrTokenUnknown)

	srv.store.mu.Lock()
	defer srv.store.mu.Unlock()
	assert.LessOrEqual(t, len(srv.store.access), minSweepInterval)
	assert.LessOrEqual(t, len(srv.store.refresh), minSweepInterval)
	assert.NotContains(t, srv.store.access, old.AccessToken)
	for s := range srv.store.sessions["demo"] {
		assert.True(t, now.Before(s.until), "dead session kept in the index")
	}
}

// TestSweepIsAmortised checks the sweep interval grows with the live token
// count, keeping the cost per issued token constant.
func TestSweepIsAmortised(t *testing.T) {
	srv := New(Config{})
	for range 3 * minSweepInterval {
		_, err := srv.Login("demo", "demo")
		require.NoError(t, err)
	}
	srv.store.mu.Lock()
	defer srv.store.mu.Unlock()
	live := len(srv.store.access) + len(srv.store.refresh)
	assert.Equal(t, 6*minSweepInterval, live, "nothing has expired")
	assert.Greater(t, srv.store.nextSweep, minSweepInterval)
}
