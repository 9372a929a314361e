package tokenrefresh

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gofrs/flock"
)

// lockRetryDelay is how often Lock retries a held file lock. Refreshes are
// rare and short, so a short delay costs little and keeps waiters prompt.
const lockRetryDelay = 20 * time.Millisecond

// FileLocker is a Locker backed by an advisory lock file (flock on Unix,
// LockFileEx on Windows). It serialises refreshes between processes on one
// machine, and between goroutines sharing the FileLocker. The operating
// system releases the lock if the process dies.
type FileLocker struct {
	path string
	held chan struct{} // in-process exclusion; not all flock variants give it
}

// NewFileLocker returns a FileLocker for account under service, with its
// lock file in the user's cache directory:
// <os.UserCacheDir()>/tokenrefresh/<first 16 hex digits of
// sha256(service + "\x00" + account)>.lock.
func NewFileLocker(service, account string) (*FileLocker, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return nil, errorf("file locker for service %q, account %q: %w", service, account, err)
	}
	sum := sha256.Sum256([]byte(service + "\x00" + account))
	name := hex.EncodeToString(sum[:])[:16] + ".lock"
	return NewFileLockerAt(filepath.Join(cache, "tokenrefresh", name)), nil
}

// NewFileLockerAt returns a FileLocker using the lock file at path. The file
// and its directory (mode 0700) are created by the first Lock.
func NewFileLockerAt(path string) *FileLocker {
	return &FileLocker{path: path, held: make(chan struct{}, 1)}
}

// Path returns the lock file's path.
func (l *FileLocker) Path() string { return l.path }

// Lock implements Locker. It waits for the lock until ctx is done. The
// returned unlock reports the error of releasing the file lock; calls after
// the first do nothing and return nil.
func (l *FileLocker) Lock(ctx context.Context) (unlock func() error, err error) {
	select {
	case l.held <- struct{}{}:
	case <-ctx.Done():
		return nil, l.lockError(context.Cause(ctx))
	}
	release := func() { <-l.held }
	if err := os.MkdirAll(filepath.Dir(l.path), 0o700); err != nil {
		release()
		return nil, l.lockError(err)
	}
	// A fresh Flock per Lock: a Flock remembers that it is locked and would
	// let a second Lock through without asking the OS.
	fl := flock.New(l.path)
	ok, err := fl.TryLockContext(ctx, lockRetryDelay)
	if err == nil && !ok {
		err = context.Cause(ctx)
	}
	if err != nil {
		release()
		return nil, l.lockError(err)
	}
	var once sync.Once
	return func() error {
		var err error
		once.Do(func() {
			err = fl.Unlock()
			release()
		})
		if err != nil {
			return errorf("unlock %s: %w", l.path, err)
		}
		return nil
	}, nil
}

func (l *FileLocker) lockError(err error) error {
	return errorf("lock %s: %w", l.path, err)
}
