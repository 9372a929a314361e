package redisstore_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tokenrefresh/tokenrefresh"
	"github.com/tokenrefresh/tokenrefresh/internal/demoserver"
	"github.com/tokenrefresh/tokenrefresh/internal/fakeclock"
	"github.com/tokenrefresh/tokenrefresh/redisstore"
)

// failures counts the log records of failed refreshes, and signals each.
type failures struct {
	n    atomic.Int64
	last atomic.Value // string
	ch   chan struct{}
}

func (f *failures) Enabled(context.Context, slog.Level) bool { return true }
func (f *failures) WithAttrs([]slog.Attr) slog.Handler       { return f }
func (f *failures) WithGroup(string) slog.Handler            { return f }
func (f *failures) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "refresh failed") {
		f.n.Add(1)
		defer func() { f.ch <- struct{}{} }()
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "err" {
				f.last.Store(a.Value.String())
			}
			return true
		})
	}
	return nil
}

// TestRedisGoesAway: Redis dies while two replicas serve traffic. Requests
// go on with the cached token; a refresh that falls due meanwhile cannot
// take the lock, fails as transient and keeps the refresh token, unspent.
// When Redis comes back (with its data: it keeps an append-only file), one
// replica refreshes, the other adopts, and traffic carries on.
func TestRedisGoesAway(t *testing.T) {
	r := startRedis(t)
	c := r.client(t)
	ctx := context.Background()
	// clk is shared by the token server and the Sources, so the test moves
	// token lifetimes without sleeping.
	clk := fakeclock.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	srv := demoserver.New(demoserver.Config{AccessTTL: time.Minute, Rotate: true, DetectReuse: true, Now: clk.Now})
	ts := httptest.NewServer(srv)
	defer ts.Close()

	const key = "fleet:outage"
	store, err := redisstore.NewStore(c, key)
	require.NoError(t, err)
	tok0 := login(t, srv)
	require.NoError(t, store.Save(ctx, tok0))

	httpT := newHTTP(t)
	fails := failures{ch: make(chan struct{}, 64)}
	var refreshes atomic.Int64
	replica := func() (*tokenrefresh.Source, *http.Client) {
		src := tokenrefresh.NewSource(
			counting(tokenrefresh.JSONRefresher(ts.URL+"/refresh", &http.Client{Transport: httpT}), &refreshes),
			tokenrefresh.WithStore(store),
			tokenrefresh.WithLocker(redisstore.NewLocker(c, key+":lock", redisstore.WithLockTTL(10*time.Second))),
			tokenrefresh.WithRefreshTimeout(5*time.Second),
			tokenrefresh.WithClock(clk.Now),
			// Token life 60s: refresh in the background from 40s, wait
			// for a refresh from 50s, expired at 60s.
			tokenrefresh.WithLeeway(10*time.Second),
			tokenrefresh.WithEarlyRefresh(10*time.Second),
			tokenrefresh.WithBackoff(time.Second, 2*time.Second),
			tokenrefresh.WithLogger(slog.New(&fails)),
		)
		return src, &http.Client{Transport: &tokenrefresh.Transport{Source: src, Base: httpT}}
	}
	a, apiA := replica()
	b, apiB := replica()

	watchCtx, stopWatch := context.WithCancel(ctx)
	var watchers sync.WaitGroup
	defer func() { stopWatch(); watchers.Wait() }()
	subscribed := make(chan struct{}, 8)
	for _, src := range []*tokenrefresh.Source{a, b} {
		watchers.Go(func() {
			_ = store.Watch(watchCtx, src, redisstore.OnSubscribed(func() { subscribed <- struct{}{} }))
		})
	}
	<-subscribed
	<-subscribed

	traffic := func(phase string) {
		t.Helper()
		var wg sync.WaitGroup
		var ta, tb tally
		wg.Go(func() { ta = hammer(ctx, apiA, ts.URL+"/api/"+phase, 10, 10) })
		wg.Go(func() { tb = hammer(ctx, apiB, ts.URL+"/api/"+phase, 10, 10) })
		wg.Wait()
		t.Logf("%-28s A %3d ok %d failed, B %3d ok %d failed", phase+":", ta.OK, ta.Fail, tb.OK, tb.Fail)
		require.Zero(t, ta.Fail, "A: %s", ta.FirstErr)
		require.Zero(t, tb.Fail, "B: %s", tb.FirstErr)
	}
	traffic("before")

	// Redis dies during traffic.
	var wg sync.WaitGroup
	wg.Go(func() { traffic("redis-dies") })
	r.stop()
	wg.Wait()
	traffic("redis-down")

	// A refresh falls due: first in the background (early window), then
	// blocking (leeway). Neither can take the lock; the token is served.
	clk.Advance(45 * time.Second)
	traffic("down, early refresh window")
	for range 2 { // each replica's background refresh fails on the lock
		select {
		case <-fails.ch:
		case <-time.After(20 * time.Second):
			t.Fatal("no background refresh attempt")
		}
	}
	clk.Advance(10 * time.Second) // past the backoff (at most 1s)
	start := time.Now()
	traffic("down, token stale")
	t.Logf("stale-token phase with Redis down took %v", time.Since(start).Round(time.Millisecond))
	assert.EqualValues(t, 4, fails.n.Load(), "one background and one blocking attempt per replica, then backoff")
	_, err = a.Refresh(ctx)
	require.Error(t, err)
	require.NotErrorIs(t, err, tokenrefresh.ErrReauthRequired, "a transient failure must not end the session")
	for _, src := range []*tokenrefresh.Source{a, b} {
		tok, err := src.TokenContext(ctx)
		require.NoError(t, err)
		assert.Equal(t, tok0.RefreshToken, tok.RefreshToken, "the refresh token is kept")
	}
	stats := srv.Stats()
	t.Logf("while down: %d failed refresh attempts (last: %v), %d refreshes reached the server", fails.n.Load(), fails.last.Load(), stats.Refreshes)
	assert.Positive(t, fails.n.Load())
	assert.Zero(t, stats.Refreshes, "no refresh token spent without the lock")
	assert.Zero(t, refreshes.Load())

	// Redis comes back with the stored token. Once the backoff (at most
	// 2s) has passed,
	// the next stale request refreshes once for the fleet.
	r.restart()
	<-subscribed
	<-subscribed
	clk.Advance(3 * time.Second)
	traffic("redis back")

	stats = srv.Stats()
	t.Logf("after recovery: %d refreshes, %d rejected, %d reuse detections", stats.Refreshes, stats.RefreshRejected, stats.ReuseDetected)
	assert.Equal(t, 1, stats.Refreshes)
	assert.Zero(t, stats.ReuseDetected)
	assert.Zero(t, stats.RefreshRejected)
	stored, err := store.Load(ctx)
	require.NoError(t, err)
	assert.NotEqual(t, tok0.AccessToken, stored.AccessToken)
	for _, src := range []*tokenrefresh.Source{a, b} {
		tok, err := src.TokenContext(ctx)
		require.NoError(t, err)
		assert.Equal(t, stored.AccessToken, tok.AccessToken)
	}
}
