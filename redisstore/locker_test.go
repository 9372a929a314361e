package redisstore_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tokenrefresh/tokenrefresh/redisstore"
)

func TestLockerExclusion(t *testing.T) {
	r := startRedis(t)
	c := r.client(t)
	ctx := context.Background()
	a := redisstore.NewLocker(c, "lk:excl")
	b := redisstore.NewLocker(c, "lk:excl", redisstore.WithLockRetry(5*time.Millisecond))

	unlockA, err := a.Lock(ctx)
	require.NoError(t, err)
	ttl, err := c.PTTL(ctx, "lk:excl").Result()
	require.NoError(t, err)
	assert.InDelta(t, redisstore.DefaultLockTTL.Seconds(), ttl.Seconds(), 1)

	// b waits while a holds the lock, and gives up with its context.
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	_, err = b.Lock(short)
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded)

	// b gets it once a releases it.
	got := make(chan error, 1)
	waitCtx, cancelWait := context.WithTimeout(ctx, 10*time.Second)
	defer cancelWait()
	go func() {
		unlock, err := b.Lock(waitCtx)
		if err == nil {
			err = unlock()
		}
		got <- err
	}()
	require.NoError(t, unlockA())
	require.NoError(t, <-got)
	require.NoError(t, unlockA(), "second unlock is a no-op")
}

// TestLockerReleasedOnlyByHolder: a holder whose lock expired and was taken
// by another cannot release the other's lock.
func TestLockerReleasedOnlyByHolder(t *testing.T) {
	r := startRedis(t)
	c := r.client(t)
	ctx := context.Background()
	a := redisstore.NewLocker(c, "lk:holder")
	b := redisstore.NewLocker(c, "lk:holder")

	unlockA, err := a.Lock(ctx)
	require.NoError(t, err)
	require.NoError(t, c.Del(ctx, "lk:holder").Err()) // as if it expired
	unlockB, err := b.Lock(ctx)
	require.NoError(t, err)
	valueB, err := c.Get(ctx, "lk:holder").Result()
	require.NoError(t, err)

	err = unlockA()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "expired")
	still, err := c.Get(ctx, "lk:holder").Result()
	require.NoError(t, err)
	assert.Equal(t, valueB, still, "b's lock must survive a's unlock")
	require.NoError(t, unlockB())
	assert.Zero(t, c.Exists(ctx, "lk:holder").Val())
}

// TestLockerRedisDown: without Redis, Lock fails at once rather than
// waiting out the caller's context.
func TestLockerRedisDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	_, err = redisstore.NewLocker(c, "lk:down").Lock(ctx)
	require.Error(t, err)
	assert.NotErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 5*time.Second)
	t.Logf("Lock without Redis failed after %v: %v", time.Since(start), err)
}
