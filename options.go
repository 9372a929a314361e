package tokenrefresh

import (
	"log/slog"
	"time"

	"golang.org/x/oauth2"
)

// An Option configures a Source.
type Option func(*config)

type config struct {
	store          Store
	locker         Locker
	initial        *oauth2.Token
	leeway         time.Duration
	early          time.Duration
	refreshTimeout time.Duration
	minBackoff     time.Duration
	maxBackoff     time.Duration
	now            func() time.Time
	onReauth       func(error)
	logger         *slog.Logger
}

func defaultConfig() config {
	return config{
		leeway:         30 * time.Second,
		early:          30 * time.Second,
		refreshTimeout: 30 * time.Second,
		minBackoff:     time.Second,
		maxBackoff:     5 * time.Minute,
		now:            time.Now,
		logger:         slog.New(slog.DiscardHandler),
	}
}

// WithStore makes the Source load its token from s on first use and save
// every refreshed token to s before using it. With a Locker as well, s is
// also how processes sharing the session see each other's refreshes, and a
// store found empty means another process ended the session.
func WithStore(s Store) Option { return func(c *config) { c.store = s } }

// WithLocker serialises refreshes with other processes or machines that share
// the Store, so that a rotating refresh token is spent once. It has effect
// only together with WithStore.
func WithLocker(l Locker) Option { return func(c *config) { c.locker = l } }

// WithToken sets the initial token, for example one just obtained by logging
// in. It takes precedence over the store's token at start.
func WithToken(tok *oauth2.Token) Option { return func(c *config) { c.initial = cloneToken(tok) } }

// WithLeeway sets how long before its expiry a token is no longer used: a
// caller then waits for a refresh. The default is 30 seconds. The leeway
// never exceeds half a token's lifetime, so short-lived tokens are still
// used for half their life rather than refreshed in a loop.
func WithLeeway(d time.Duration) Option { return func(c *config) { c.leeway = max(d, 0) } }

// WithEarlyRefresh sets a window before the leeway in which the still-valid
// token is served while one refresh runs in the background, so that no caller
// waits on the token endpoint while a valid token exists. The default is 30
// seconds; 0 disables it. The window never exceeds a quarter of a token's
// lifetime.
func WithEarlyRefresh(d time.Duration) Option { return func(c *config) { c.early = max(d, 0) } }

// WithRefreshTimeout bounds each refresh, including waiting for the Locker
// and the Store. The default is 30 seconds; zero or less keeps it. The
// refresh runs detached from the context of the caller that started it, so
// this is its only deadline. Saving the new token gets a budget of its own,
// so a slow token endpoint cannot cost the rotated refresh token.
func WithRefreshTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.refreshTimeout = d
		}
	}
}

// WithBackoff sets the bounds, lo and hi, of the wait after a transient refresh failure
// before the token endpoint is tried again. The wait doubles with each
// consecutive failure, with jitter, and a server's Retry-After is honoured up
// to hi. The defaults are 1 second and 5 minutes.
func WithBackoff(lo, hi time.Duration) Option {
	return func(c *config) {
		if lo > 0 {
			c.minBackoff = lo
		}
		if hi > 0 {
			c.maxBackoff = hi
		}
		c.maxBackoff = max(c.maxBackoff, c.minBackoff)
	}
}

// WithClock replaces time.Now, for tests.
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now = now
		}
	}
}

// OnReauth registers fn to be called once each time the session ends because
// the refresh token was rejected, with the error that ended it. fn runs
// after the refresh has released the Locker, so it may log in again and call
// SetToken; callers waiting for that refresh wait for fn too, so it should
// not block long.
func OnReauth(fn func(err error)) Option { return func(c *config) { c.onReauth = fn } }

// WithLogger sets the logger for refreshes, failures and store problems. No
// token value is ever logged. By default nothing is logged.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}
