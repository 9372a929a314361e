package tokenrefresh

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"github.com/zalando/go-keyring"
)

// ErrKeyringUnavailable reports that there is no usable OS keyring: an
// unsupported platform, no D-Bus session bus, or no Secret Service on it.
// It is the only keyring error that WithFileFallback falls back on.
var ErrKeyringUnavailable = errors.New("tokenrefresh: OS keyring unavailable")

// ErrKeyringTimeout reports that the keyring exists but did not answer in
// time, or that its collection is locked and could not be unlocked without a
// user. Retrying later may succeed; falling back to a file would not be safe,
// since the token in the keyring may be newer.
var ErrKeyringTimeout = errors.New("tokenrefresh: OS keyring timed out or is locked")

// ErrTokenTooLarge reports a token that cannot be stored even when split
// into chunks: it is enormous, or the service and account names leave no room
// in a keyring item.
var ErrTokenTooLarge = errors.New("tokenrefresh: token too large for the store")

// ErrTokenCorrupt reports a stored token that cannot be read back: damaged,
// half-deleted, tampered with, or written by an incompatible version. The
// stored token should be treated as gone and the user logged in again.
var ErrTokenCorrupt = errors.New("tokenrefresh: stored token is unreadable")

// ErrTokenFileInsecure reports a token file that group or others may access.
// The error text says which chmod command fixes it.
var ErrTokenFileInsecure = errors.New("tokenrefresh: token file permissions too open")

// errKeyringDeadline is the context cause of a KeyringStore's own timeout, so
// that it can be told apart from the caller's deadline.
var errKeyringDeadline = errors.New("keyring operation timeout")

// isNotFound reports a backend's "no such item".
func isNotFound(err error) bool { return errors.Is(err, keyring.ErrNotFound) }

// classifyKeyringError attaches this package's sentinels to a backend error
// so callers can react with errors.Is while the cause stays inspectable.
func classifyKeyringError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrKeyringUnavailable), errors.Is(err, ErrKeyringTimeout), errors.Is(err, ErrTokenTooLarge):
		return err
	case errors.Is(err, keyring.ErrSetDataTooBig):
		return fmt.Errorf("%w: %w", ErrTokenTooLarge, err)
	case errors.Is(err, keyring.ErrUnsupportedPlatform), errors.Is(err, exec.ErrNotFound), platformUnavailable(err):
		return fmt.Errorf("%w: %w", ErrKeyringUnavailable, err)
	case platformLocked(err):
		return fmt.Errorf("%w: %w", ErrKeyringTimeout, err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: %w", ErrKeyringTimeout, err)
	}
	return err
}

// describedError puts context in front of an error from this package
// without repeating the package prefix, so that chains read
// "tokenrefresh: keyring load (...): no token stored".
type describedError struct {
	context string
	err     error
}

func describe(err error, format string, args ...any) error {
	return &describedError{context: fmt.Sprintf(format, args...), err: err}
}

func (e *describedError) Error() string {
	return "tokenrefresh: " + e.context + ": " + strings.TrimPrefix(e.err.Error(), "tokenrefresh: ")
}

func (e *describedError) Unwrap() error { return e.err }
