package tokenrefresh

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// ErrReauthRequired reports that the session is over: the refresh token was
// rejected, or there is none, and the user must log in again. It is matched
// with errors.Is, including through the *url.Error that http.Client returns.
var ErrReauthRequired = errors.New("tokenrefresh: re-authentication required")

// A RefreshError describes a failed refresh. It never contains a token value.
//
// A permanent RefreshError (the server rejected the refresh token) also
// matches ErrReauthRequired. A transient one (5xx, 429, timeout, connection
// error) does not: the refresh token is kept and a later call tries again.
type RefreshError struct {
	// Permanent reports whether the refresh token was definitively rejected.
	Permanent bool
	// StatusCode is the token endpoint's HTTP status, or 0 when no response
	// was received.
	StatusCode int
	// ErrorCode is the OAuth2 error code ("invalid_grant"), if the server sent one.
	ErrorCode string
	// RetryAfter is how long the server asked clients to wait, if it said.
	RetryAfter time.Duration
	// Err is the underlying cause, if any.
	Err error
}

func (e *RefreshError) Error() string {
	msg := "tokenrefresh: refresh failed"
	if e.Permanent {
		msg = "tokenrefresh: refresh token rejected"
	}
	if e.StatusCode != 0 {
		msg += ": status " + strconv.Itoa(e.StatusCode)
	}
	if e.ErrorCode != "" {
		msg += ": " + e.ErrorCode
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the cause.
func (e *RefreshError) Unwrap() error { return e.Err }

// Is makes a permanent RefreshError match ErrReauthRequired.
func (e *RefreshError) Is(target error) bool {
	return target == ErrReauthRequired && e.Permanent
}

// transient reports a refresh failure that is worth retrying later.
func transient(status int, code string, retryAfter time.Duration, err error) *RefreshError {
	return &RefreshError{StatusCode: status, ErrorCode: code, RetryAfter: retryAfter, Err: err}
}

// permanent reports a definitive rejection of the refresh token.
func permanent(status int, code string, err error) *RefreshError {
	return &RefreshError{Permanent: true, StatusCode: status, ErrorCode: code, Err: err}
}

// errorf is fmt.Errorf with the package prefix, for errors that are not
// about a refresh. Callers must never format a token value into it.
func errorf(format string, args ...any) error {
	return fmt.Errorf("tokenrefresh: "+format, args...)
}
