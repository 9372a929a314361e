package redisstore

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/go-redsync/redsync/v4"
	"github.com/go-redsync/redsync/v4/redis/goredis/v9"
	"github.com/redis/go-redis/v9"
	"github.com/tokenrefresh/tokenrefresh"
)

// unlockTimeout bounds releasing the lock, which has no context of its own.
const unlockTimeout = 5 * time.Second

// Locker is a tokenrefresh.Locker backed by a redsync lock in Redis, so that
// one replica of a fleet refreshes at a time. It is safe for concurrent use.
//
// The lock is a key holding a random value, set only if absent and with a
// time to live (WithLockTTL). Only the holder, who knows the value, can
// release it; if the holder dies, it expires by itself. It is not renewed
// while held: the time to live must exceed the Source's refresh timeout,
// which bounds how long a live holder keeps it.
type Locker struct {
	rs    *redsync.Redsync
	key   string
	ttl   time.Duration
	retry time.Duration
}

var _ tokenrefresh.Locker = (*Locker)(nil)

// NewLocker returns a Locker using key as the lock's Redis key. Replicas
// that share a Store must share this key too.
func NewLocker(client redis.UniversalClient, key string, opts ...LockerOption) *Locker {
	cfg := lockerConfig{ttl: DefaultLockTTL, retry: DefaultLockRetry}
	for _, o := range opts {
		o(&cfg)
	}
	return &Locker{rs: redsync.New(goredis.NewPool(client)), key: key, ttl: cfg.ttl, retry: cfg.retry}
}

// Key returns the lock's Redis key.
func (l *Locker) Key() string { return l.key }

// TTL returns the lock's time to live.
func (l *Locker) TTL() time.Duration { return l.ttl }

// Lock implements tokenrefresh.Locker. While another replica holds the lock
// it tries again every retry interval until ctx is done. When Redis cannot
// be reached it fails at once, so the Source keeps its token and backs off
// instead of waiting out its refresh timeout.
//
// The returned unlock releases the lock if this call still holds it. It
// reports an error if the lock expired first: the refresh outlived the
// lock's time to live.
func (l *Locker) Lock(ctx context.Context) (unlock func() error, err error) {
	m := l.rs.NewMutex(l.key, redsync.WithExpiry(l.ttl), redsync.WithTries(1))
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if err := ctx.Err(); err != nil {
			return nil, errorf("lock %s: %w", l.key, context.Cause(ctx))
		}
		err := m.TryLockContext(ctx)
		if err == nil {
			return l.unlocker(m), nil
		}
		if ctx.Err() != nil {
			return nil, errorf("lock %s: %w", l.key, context.Cause(ctx))
		}
		if !taken(err) {
			return nil, errorf("lock %s: %w", l.key, err)
		}
		wait := l.retry/2 + rand.N(l.retry/2+1)
		if timer == nil {
			timer = time.NewTimer(wait)
		} else {
			timer.Reset(wait)
		}
		select {
		case <-ctx.Done():
			return nil, errorf("lock %s: %w", l.key, context.Cause(ctx))
		case <-timer.C:
		}
	}
}

// taken reports whether a failed attempt found the lock held by someone
// else, as opposed to failing to reach Redis.
func taken(err error) bool {
	var t *redsync.ErrTaken
	var nt *redsync.ErrNodeTaken
	return errors.As(err, &t) || errors.As(err, &nt) || errors.Is(err, redsync.ErrFailed)
}

func (l *Locker) unlocker(m *redsync.Mutex) func() error {
	var once sync.Once
	var err error
	return func() error {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), unlockTimeout)
			defer cancel()
			ok, uerr := m.UnlockContext(ctx)
			switch {
			case errors.Is(uerr, redsync.ErrLockAlreadyExpired) || taken(uerr) || (uerr == nil && !ok):
				err = errorf("unlock %s: the lock expired before it was released (refresh longer than the lock TTL %s?)", l.key, l.ttl)
			case uerr != nil:
				err = errorf("unlock %s: %w", l.key, uerr)
			}
		})
		return err
	}
}
