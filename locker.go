package tokenrefresh

import "context"

// A Locker serialises refreshes between processes or machines that share a
// Store, so that a rotating refresh token is spent exactly once.
//
// A Source takes the lock only to refresh, never per request. Implementations
// exist for a local file (NewFileLocker) and can be written for a
// distributed lock service.
type Locker interface {
	// Lock blocks until the lock is held or ctx is done. On success it
	// returns a function that releases the lock; its error is logged, since
	// a lock that cannot be released will expire or be released by the
	// operating system.
	Lock(ctx context.Context) (unlock func() error, err error)
}
