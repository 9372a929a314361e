//go:build !((dragonfly && cgo) || (freebsd && cgo) || linux || netbsd || openbsd) && !windows

package tokenrefresh

// On macOS go-keyring shells out to /usr/bin/security; a missing binary is
// caught by the exec.ErrNotFound check in classifyKeyringError, and its
// other failures (a locked or denied keychain) must not look unavailable.

func platformUnavailable(error) bool { return false }

func platformUnreachable() error { return nil }

func platformLocked(error) bool { return false }
