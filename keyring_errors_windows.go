//go:build windows

package tokenrefresh

import (
	"errors"
	"syscall"
)

// errorNoSuchLogonSession is ERROR_NO_SUCH_LOGON_SESSION: Credential Manager
// is not available to this process, e.g. a service account or SSH session
// without a loaded profile.
const errorNoSuchLogonSession = syscall.Errno(1312)

func platformUnavailable(err error) bool { return errors.Is(err, errorNoSuchLogonSession) }

func platformLocked(error) bool { return false }

func platformUnreachable() error { return nil }
