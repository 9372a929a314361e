package redisstore_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tokenrefresh/tokenrefresh"
	"github.com/tokenrefresh/tokenrefresh/internal/demoserver"
	"github.com/tokenrefresh/tokenrefresh/redisstore"
)

const (
	stormReplicas   = 3
	stormGoroutines = 100
	stormRequests   = 10 // per goroutine, after the access tokens are revoked
)

// stormResult is what a storm replica reports.
type stormResult struct {
	ID        string
	Warm      tally
	Storm     tally
	Refreshes int64
	Adopted   int64
	Token     string // fingerprint of the final access token
}

// TestFleetStorm: three replica processes with 100 goroutines each share a
// session through Redis. The server revokes every access token, so all 300
// goroutines get a 401 at once; the fleet must refresh exactly once, never
// present a spent refresh token, serve every request and end on one token.
func TestFleetStorm(t *testing.T) {
	r := startRedis(t)
	c := r.client(t)
	ctx := context.Background()

	srv := demoserver.New(demoserver.Config{
		AccessTTL: time.Hour, Rotate: true, DetectReuse: true,
		RefreshDelay: 50 * time.Millisecond, // widen the race window
	})
	ts := httptest.NewServer(srv)
	defer ts.Close()

	const key = "fleet:storm"
	store, err := redisstore.NewStore(c, key)
	require.NoError(t, err)
	require.NoError(t, store.Save(ctx, login(t, srv)))

	helpers := make([]*helper, stormReplicas)
	for i := range helpers {
		helpers[i] = startHelper(t, "storm", map[string]string{
			"RS_REDIS": r.Addr(), "RS_URL": ts.URL, "RS_KEY": key, "RS_ID": strconv.Itoa(i),
		}, nil)
	}
	// Each replica signals on a Redis list once it has loaded the session
	// and is listening; then the storm starts everywhere at once.
	for range stormReplicas {
		waitSignal(t, c, "test:ready", helpers...)
	}
	before := srv.Stats()
	require.Equal(t, 1, srv.RevokeAccessTokens(), "one session, one access token")
	for i := range helpers {
		require.NoError(t, c.RPush(ctx, "test:go:"+strconv.Itoa(i), "go").Err())
	}

	results := make([]stormResult, stormReplicas)
	for i, h := range helpers {
		h.wait(t, &results[i])
	}
	stats := srv.Stats()
	stored, err := store.Load(ctx)
	require.NoError(t, err)

	var total int64
	for _, res := range results {
		t.Logf("replica %s: warm %d ok, storm %d ok / %d failed, refreshes %d, watch adoptions %d, token %s",
			res.ID, res.Warm.OK, res.Storm.OK, res.Storm.Fail, res.Refreshes, res.Adopted, res.Token)
		assert.Zero(t, res.Storm.Fail, "replica %s: first error: %s", res.ID, res.Storm.FirstErr)
		assert.EqualValues(t, stormGoroutines*stormRequests, res.Storm.OK)
		assert.Equal(t, fp(stored.AccessToken), res.Token, "replica %s is not on the stored token", res.ID)
		total += res.Storm.OK
	}
	t.Logf("server: %d refreshes, %d rejected, %d reuse detections, %d API requests (%d answered 401) during the storm",
		stats.Refreshes-before.Refreshes, stats.RefreshRejected, stats.ReuseDetected,
		stats.APIRequests-before.APIRequests, stats.API401-before.API401)
	assert.Equal(t, 1, stats.Refreshes-before.Refreshes, "exactly one refresh for the fleet")
	assert.Zero(t, stats.ReuseDetected)
	assert.Zero(t, stats.RefreshRejected)
	assert.Zero(t, stats.SessionsRevoked)
	assert.EqualValues(t, stormReplicas*stormGoroutines*stormRequests, total)
}

// stormReplica is one replica process of TestFleetStorm.
func stormReplica(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 70*time.Second)
	defer cancel()
	id, url := os.Getenv("RS_ID"), os.Getenv("RS_URL")
	c := redis.NewClient(&redis.Options{Addr: os.Getenv("RS_REDIS")})
	defer c.Close()
	store, err := redisstore.NewStore(c, os.Getenv("RS_KEY"))
	require.NoError(t, err)
	httpT := newHTTP(t)
	defer httpT.CloseIdleConnections()

	var refreshes, adopted atomic.Int64
	src := tokenrefresh.NewSource(
		counting(tokenrefresh.JSONRefresher(url+"/refresh", &http.Client{Transport: httpT}), &refreshes),
		tokenrefresh.WithStore(store),
		tokenrefresh.WithLocker(redisstore.NewLocker(c, os.Getenv("RS_KEY")+":lock")),
	)
	watchCtx, stopWatch := context.WithCancel(ctx)
	subscribed := make(chan struct{}, 1)
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		_ = store.Watch(watchCtx, src,
			redisstore.OnSubscribed(func() {
				select {
				case subscribed <- struct{}{}:
				default:
				}
			}),
			redisstore.OnAdopt(func() { adopted.Add(1) }))
	}()
	defer func() { stopWatch(); <-watchDone }()
	<-subscribed

	api := &http.Client{Transport: &tokenrefresh.Transport{Source: src, Base: httpT}}
	res := stormResult{ID: id}
	res.Warm = hammer(ctx, api, url+"/api/warm", stormGoroutines, 1)
	require.Zero(t, res.Warm.Fail, res.Warm.FirstErr)
	require.NoError(t, c.RPush(ctx, "test:ready", id).Err())
	_, err = c.BLPop(ctx, 60*time.Second, "test:go:"+id).Result()
	require.NoError(t, err)

	res.Storm = hammer(ctx, api, url+"/api/storm", stormGoroutines, stormRequests)
	tok, err := src.TokenContext(ctx)
	require.NoError(t, err)
	res.Token = fp(tok.AccessToken)
	res.Refreshes, res.Adopted = refreshes.Load(), adopted.Load()
	writeResult(t, res)
}
