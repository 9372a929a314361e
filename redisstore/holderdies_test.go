package redisstore_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tokenrefresh/tokenrefresh"
	"github.com/tokenrefresh/tokenrefresh/internal/demoserver"
	"github.com/tokenrefresh/tokenrefresh/redisstore"
	"golang.org/x/oauth2"
)

// victimTTL is the lock TTL of the replica that dies holding the lock.
const victimTTL = 2 * time.Second

// TestLockHolderDies: a replica takes the refresh lock and is killed
// (SIGKILL) before its refresh reaches the server. Another replica waits
// for the lock to expire, then refreshes the stored token: the session
// survives, with one refresh and no reuse.
func TestLockHolderDies(t *testing.T) {
	r := startRedis(t)
	c := r.client(t)
	ctx := context.Background()
	srv := demoserver.New(demoserver.Config{AccessTTL: time.Hour, Rotate: true, DetectReuse: true})
	ts := httptest.NewServer(srv)
	defer ts.Close()

	const key = "fleet:dies"
	store, err := redisstore.NewStore(c, key)
	require.NoError(t, err)
	require.NoError(t, store.Save(ctx, login(t, srv)))

	// The victim blocks in its refresher, holding the lock, reading a
	// pipe that is never written. (An *os.File, so that exec starts no
	// copying goroutine that Wait would wait for.)
	stdin, stdinW, err := os.Pipe()
	require.NoError(t, err)
	defer stdinW.Close()
	victim := startHelper(t, "victim", map[string]string{"RS_REDIS": r.Addr(), "RS_KEY": key}, stdin)
	require.NoError(t, stdin.Close())
	waitSignal(t, c, "test:victim:locked", victim)
	start := time.Now()
	left, err := c.PTTL(ctx, key+":lock").Result()
	require.NoError(t, err)
	require.Positive(t, left, "the victim holds the lock")
	require.NoError(t, victim.cmd.Process.Kill())
	<-victim.done
	assert.EqualValues(t, 1, c.Exists(ctx, key+":lock").Val(), "the dead replica's lock outlives it")

	// Every access token is revoked, so the survivor must refresh.
	srv.RevokeAccessTokens()
	httpT := newHTTP(t)
	newReplica := func() *tokenrefresh.Source {
		return tokenrefresh.NewSource(
			tokenrefresh.JSONRefresher(ts.URL+"/refresh", &http.Client{Transport: httpT}),
			tokenrefresh.WithStore(store),
			tokenrefresh.WithLocker(redisstore.NewLocker(c, key+":lock", redisstore.WithLockTTL(6*time.Second))),
			tokenrefresh.WithRefreshTimeout(5*time.Second),
		)
	}
	survivor, other := newReplica(), newReplica()
	api := func(src *tokenrefresh.Source) *http.Client {
		return &http.Client{Transport: &tokenrefresh.Transport{Source: src, Base: httpT}}
	}
	require.NoError(t, get(ctx, api(survivor), ts.URL+"/api/after"))
	took := time.Since(start)
	t.Logf("lock had %v left at the kill; the survivor refreshed %v later", left.Round(time.Millisecond), took.Round(time.Millisecond))
	assert.GreaterOrEqual(t, took, left-10*time.Millisecond, "nobody may take the lock before it expires")
	assert.Less(t, took, left+3*time.Second)

	require.NoError(t, get(ctx, api(other), ts.URL+"/api/after"))
	a, err := survivor.TokenContext(ctx)
	require.NoError(t, err)
	b, err := other.TokenContext(ctx)
	require.NoError(t, err)
	stored, err := store.Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, stored.AccessToken, a.AccessToken)
	assert.Equal(t, stored.AccessToken, b.AccessToken)

	stats := srv.Stats()
	t.Logf("server: %d refreshes, %d rejected, %d reuse detections", stats.Refreshes, stats.RefreshRejected, stats.ReuseDetected)
	assert.Equal(t, 1, stats.Refreshes)
	assert.Zero(t, stats.ReuseDetected)
	assert.Zero(t, stats.RefreshRejected)
}

// victimReplica is the replica of TestLockHolderDies that dies holding the
// lock. It never returns: the test kills it.
func victimReplica(t *testing.T) {
	ctx := context.Background()
	key := os.Getenv("RS_KEY")
	c := redis.NewClient(&redis.Options{Addr: os.Getenv("RS_REDIS")})
	store, err := redisstore.NewStore(c, key)
	require.NoError(t, err)
	src := tokenrefresh.NewSource(
		tokenrefresh.RefresherFunc(func(ctx context.Context, _ *oauth2.Token) (*oauth2.Token, error) {
			// Holding the lock now; tell the test, then hang.
			if err := c.RPush(ctx, "test:victim:locked", "1").Err(); err != nil {
				return nil, err
			}
			_, _ = io.ReadAll(os.Stdin)
			return nil, errors.New("released")
		}),
		tokenrefresh.WithStore(store),
		tokenrefresh.WithLocker(redisstore.NewLocker(c, key+":lock", redisstore.WithLockTTL(victimTTL))),
		tokenrefresh.WithRefreshTimeout(victimTTL/2),
	)
	_, err = src.TokenContext(ctx) // load the stored token
	require.NoError(t, err)
	_, err = src.Refresh(ctx)
	t.Fatalf("the victim's refresh returned: %v", err)
}
