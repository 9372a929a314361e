package redisstore

import (
	"log/slog"
	"time"
)

// A StoreOption configures a Store.
type StoreOption func(*storeConfig)

type storeConfig struct {
	encKey  []byte
	channel string
	logger  *slog.Logger
}

// WithEncryptionKey seals the stored token with AES-256-GCM under key, which
// must be 32 bytes, for example from a secret manager. Every replica of the
// fleet needs the same key. A replica with another key, or none, gets
// ErrDecrypt from Load and Save and never overwrites the stored token.
func WithEncryptionKey(key []byte) StoreOption {
	return func(c *storeConfig) { c.encKey = append([]byte(nil), key...) }
}

// WithChannel sets the Pub/Sub channel on which Save and Delete announce
// changes and Watch listens. The default is the store's key followed by
// ":changed".
func WithChannel(name string) StoreOption {
	return func(c *storeConfig) {
		if name != "" {
			c.channel = name
		}
	}
}

// WithLogger sets the logger for Watch: adoptions and connection problems.
// No token value is ever logged. By default nothing is logged.
func WithLogger(l *slog.Logger) StoreOption {
	return func(c *storeConfig) {
		if l != nil {
			c.logger = l
		}
	}
}

// DefaultLockTTL is the default time to live of the refresh lock. It must
// exceed the Source's refresh timeout, 30 seconds by default.
const DefaultLockTTL = 45 * time.Second

// DefaultLockRetry is the default interval at which Lock retries a lock that
// another replica holds.
const DefaultLockRetry = 50 * time.Millisecond

// A LockerOption configures a Locker.
type LockerOption func(*lockerConfig)

type lockerConfig struct {
	ttl   time.Duration
	retry time.Duration
}

// WithLockTTL sets how long the lock lives if its holder never releases it,
// for instance because it died. It must be longer than the refresh timeout
// of every Source using the Locker (tokenrefresh.WithRefreshTimeout), or a
// slow refresh could lose the lock while it runs and another replica could
// spend the same refresh token. The default is DefaultLockTTL.
func WithLockTTL(d time.Duration) LockerOption {
	return func(c *lockerConfig) {
		if d > 0 {
			c.ttl = d
		}
	}
}

// WithLockRetry sets how often Lock tries again while another replica holds
// the lock. Each wait is jittered by up to half of it. The default is
// DefaultLockRetry.
func WithLockRetry(d time.Duration) LockerOption {
	return func(c *lockerConfig) {
		if d > 0 {
			c.retry = d
		}
	}
}
