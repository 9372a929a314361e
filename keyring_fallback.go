package tokenrefresh

import "errors"

// backendChoice records which backend a KeyringStore with a file fallback
// settled on. The choice is sticky: a store that flipped between keyring and
// file would read a stale token from whichever it returned to.
type backendChoice int32

const (
	choiceUndecided backendChoice = iota
	choiceKeyring
	choiceFile
)

// UsingFile reports whether the store keeps its token in the file given to
// WithFileFallback because the OS keyring is unavailable. The store decides
// on the first Load, Save or Delete that either gets an answer from the
// keyring or finds it unavailable, and never changes its mind; ask after
// such an operation. Until then (operations that time out decide nothing),
// and always for a store without WithFileFallback, UsingFile reports false.
// It is safe to call concurrently with the store's operations.
func (s *KeyringStore) UsingFile() bool {
	return s.file != nil && backendChoice(s.choice.Load()) == choiceFile
}

// fallBack settles the backend choice from the outcome of a keyring
// operation and reports whether the operation should be redone on the file.
// Only ErrKeyringUnavailable chooses the file; any answer from the keyring,
// even "no token" or an unreadable one, chooses the keyring; timeouts and a
// locked collection decide nothing.
func (s *KeyringStore) fallBack(err error) bool {
	if s.file == nil {
		return false
	}
	switch {
	case err == nil, errors.Is(err, ErrNoToken), errors.Is(err, ErrTokenCorrupt):
		s.choice.CompareAndSwap(int32(choiceUndecided), int32(choiceKeyring))
		return false
	case errors.Is(err, ErrKeyringUnavailable):
		if s.choice.CompareAndSwap(int32(choiceUndecided), int32(choiceFile)) {
			s.logger.Warn("tokenrefresh: OS keyring unavailable; keeping the token in a file instead",
				"service", s.service, "account", s.account, "path", s.file.Path(), "err", err)
		}
		return backendChoice(s.choice.Load()) == choiceFile
	}
	return false
}
