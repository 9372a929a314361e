package tokenrefresh

import (
	"log/slog"
	"time"

	"github.com/zalando/go-keyring"
)

// DefaultKeyringTimeout bounds each keyring call of a KeyringStore unless
// WithKeyringTimeout says otherwise. A Secret Service waiting on an unlock
// prompt nobody will answer would otherwise block forever.
const DefaultKeyringTimeout = 3 * time.Second

// Keyring is the OS keyring as KeyringStore uses it: go-keyring's package
// functions by default, or a fake in tests (WithKeyring).
//
// Get and Delete report a missing item with an error matching go-keyring's
// keyring.ErrNotFound. Implementations must be safe for concurrent use; a
// call may be abandoned by its caller after the store's timeout.
type Keyring interface {
	Get(service, user string) (string, error)
	Set(service, user, secret string) error
	Delete(service, user string) error
}

// systemKeyring is the OS keyring through go-keyring. Before each call it
// checks that the keyring can be reached at all (platformUnreachable), so
// that a missing D-Bus session bus fails at once with ErrKeyringUnavailable
// instead of making godbus start one.
type systemKeyring struct{}

func (systemKeyring) Get(service, user string) (string, error) {
	if err := platformUnreachable(); err != nil {
		return "", err
	}
	return keyring.Get(service, user)
}

func (systemKeyring) Set(service, user, secret string) error {
	if err := platformUnreachable(); err != nil {
		return err
	}
	return keyring.Set(service, user, secret)
}

func (systemKeyring) Delete(service, user string) error {
	if err := platformUnreachable(); err != nil {
		return err
	}
	return keyring.Delete(service, user)
}

// keyringConfig collects KeyringOptions.
type keyringConfig struct {
	backend      Keyring
	timeout      time.Duration
	extras       []string
	fallbackPath string
	logger       *slog.Logger
}

// A KeyringOption configures NewKeyringStore.
type KeyringOption interface {
	applyKeyring(*keyringConfig)
}

// A FileStoreOption configures NewFileStore.
type FileStoreOption interface {
	applyFile(*fileConfig)
}

type keyringOptionFunc func(*keyringConfig)

func (f keyringOptionFunc) applyKeyring(c *keyringConfig) { f(c) }

// WithKeyring makes the store use k instead of the OS keyring.
func WithKeyring(k Keyring) KeyringOption {
	return keyringOptionFunc(func(c *keyringConfig) { c.backend = k })
}

// WithKeyringTimeout bounds each call to the keyring, and the wait for
// another operation on the same store, in addition to the context's
// deadline. A call that times out fails with ErrKeyringTimeout; until it
// returns, later operations on the store fail at once with ErrKeyringTimeout
// rather than start calls that would hang behind it. Non-positive values
// mean DefaultKeyringTimeout.
func WithKeyringTimeout(d time.Duration) KeyringOption {
	return keyringOptionFunc(func(c *keyringConfig) {
		if d > 0 {
			c.timeout = d
		}
	})
}

// WithFileFallback makes the store keep its token in a FileStore at path
// when, and only when, the OS keyring is unavailable (ErrKeyringUnavailable).
// A locked or slow keyring never falls back, since it may hold a newer token.
// The first operation that reaches a decision fixes it for the store's
// lifetime; switching to the file logs one warning, and
// KeyringStore.UsingFile reports it.
func WithFileFallback(path string) KeyringOption {
	return keyringOptionFunc(func(c *keyringConfig) { c.fallbackPath = path })
}

// WithKeyringLogger sets where the store logs the fallback warning and failures to
// clean up old chunks. The default is slog.Default().
func WithKeyringLogger(l *slog.Logger) KeyringOption {
	return keyringOptionFunc(func(c *keyringConfig) {
		if l != nil {
			c.logger = l
		}
	})
}

// ExtraFieldsOption is the option returned by WithExtraFields. It
// configures both NewKeyringStore and NewFileStore.
type ExtraFieldsOption struct{ names []string }

// WithExtraFields replaces the list of token response fields persisted
// besides the access token, token type, refresh token and expiry. The
// default is "id_token" and "scope". oauth2.Token cannot enumerate its extra
// fields, so fields not listed are lost on Save.
func WithExtraFields(names ...string) ExtraFieldsOption {
	return ExtraFieldsOption{names: append([]string(nil), names...)}
}

func (o ExtraFieldsOption) applyKeyring(c *keyringConfig) { c.extras = o.names }
func (o ExtraFieldsOption) applyFile(c *fileConfig)       { c.extras = o.names }
