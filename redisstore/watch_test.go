package redisstore_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tokenrefresh/tokenrefresh"
	"github.com/tokenrefresh/tokenrefresh/internal/demoserver"
	"github.com/tokenrefresh/tokenrefresh/redisstore"
)

// TestWatchAdoptsBeforeStale: a replica started before anyone logged in
// picks up the login once it is stored, and when another replica refreshes,
// adopts the new token at once, long before its own copy goes stale, with
// no request and no refresh of its own.
func TestWatchAdoptsBeforeStale(t *testing.T) {
	r := startRedis(t)
	c := r.client(t)
	ctx := context.Background()
	srv := demoserver.New(demoserver.Config{AccessTTL: time.Hour, Rotate: true, DetectReuse: true})
	ts := httptest.NewServer(srv)
	defer ts.Close()
	httpT := newHTTP(t)

	const key = "fleet:watch"
	encKey := newKey(t)
	var refreshesA, refreshesB atomic.Int64
	// Each replica has its own Store value, as on separate machines.
	replica := func(n *atomic.Int64) (*tokenrefresh.Source, *redisstore.Store) {
		store, err := redisstore.NewStore(c, key, redisstore.WithEncryptionKey(encKey))
		require.NoError(t, err)
		return tokenrefresh.NewSource(
			counting(tokenrefresh.JSONRefresher(ts.URL+"/refresh", &http.Client{Transport: httpT}), n),
			tokenrefresh.WithStore(store),
			tokenrefresh.WithLocker(redisstore.NewLocker(c, key+":lock")),
		), store
	}
	a, storeA := replica(&refreshesA)
	b, store := replica(&refreshesB)

	watchCtx, stopWatch := context.WithCancel(ctx)
	subscribed, adopted := make(chan struct{}, 1), make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		done <- store.Watch(watchCtx, b,
			redisstore.OnSubscribed(func() { subscribed <- struct{}{} }),
			redisstore.OnAdopt(func() { adopted <- struct{}{} }))
	}()
	defer func() {
		stopWatch()
		require.ErrorIs(t, <-done, context.Canceled)
	}()
	<-subscribed // caught up with an empty store, without ending b's session

	// Someone logs in and stores the session.
	tok0 := login(t, srv)
	require.NoError(t, storeA.Save(ctx, tok0))
	// b's session was not ended by Watch's catch-up with the empty store.
	got, err := b.TokenContext(ctx)
	require.NoError(t, err)
	require.Equal(t, tok0.AccessToken, got.AccessToken)

	// Replica a refreshes (rotating the refresh token) and saves.
	_, err = a.TokenContext(ctx)
	require.NoError(t, err)
	tok1, err := a.Refresh(ctx)
	require.NoError(t, err)
	require.NotEqual(t, tok0.AccessToken, tok1.AccessToken)

	select {
	case <-adopted:
	case <-time.After(10 * time.Second):
		t.Fatal("b did not adopt a's token")
	}
	got, err = b.TokenContext(ctx)
	require.NoError(t, err)
	assert.Equal(t, tok1.AccessToken, got.AccessToken, "b holds a's new token")
	assert.Equal(t, tok1.RefreshToken, got.RefreshToken)
	assert.Zero(t, refreshesB.Load(), "b adopted without refreshing")
	assert.EqualValues(t, 1, refreshesA.Load())
	assert.True(t, time.Until(got.Expiry) > 50*time.Minute, "adopted long before it was stale")
	st := srv.Stats()
	assert.Equal(t, 1, st.Refreshes)
	assert.Zero(t, st.ReuseDetected)
	require.NoError(t, get(ctx, &http.Client{Transport: &tokenrefresh.Transport{Source: b, Base: httpT}}, ts.URL+"/api/b"))
	select {
	case <-adopted:
		t.Fatal("a second adoption without a change")
	default:
	}
}
