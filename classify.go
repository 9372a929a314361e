package tokenrefresh

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/oauth2"
)

// classify turns a Refresher's error into a RefreshError. Only an explicit
// rejection of the refresh token ends a session: anything unrecognised is
// transient, since ending a session by mistake costs the user a login,
// while a transient error only costs a retry.
//
// Servers and Refreshers may quote what they were sent, so the secrets (the
// tokens of the refresh) are masked in the result's text.
func classify(err error, secrets ...string) *RefreshError {
	var re *RefreshError
	var oe *oauth2.RetrieveError
	switch {
	case errors.As(err, &re):
		c := *re
		re = &c
	case errors.Is(err, ErrReauthRequired):
		re = permanent(0, "", err)
	case errors.As(err, &oe):
		re = classifyRetrieve(oe)
	default:
		re = transient(0, "", 0, err)
	}
	re.ErrorCode = redact(re.ErrorCode, secrets...)
	if re.Err != nil {
		re.Err = &scrubbed{err: re.Err, msg: redact(re.Err.Error(), secrets...)}
	}
	return re
}

// scrubbed shows the text of the error it wraps with the secrets masked,
// and leaves errors.Is and errors.As to see the original. It keeps the
// masked text, never the secrets.
type scrubbed struct {
	err error
	msg string
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.err }

// classifyRetrieve classifies x/oauth2's token endpoint errors. Its Error
// method prints the response body, which a broken server may fill with
// anything, so the cause kept is a summary.
func classifyRetrieve(re *oauth2.RetrieveError) *RefreshError {
	status := 0
	var retryAfter time.Duration
	if re.Response != nil {
		status = re.Response.StatusCode
		retryAfter = parseRetryAfter(re.Response.Header.Get("Retry-After"), time.Now())
	}
	cause := &endpointError{status: status, code: re.ErrorCode, description: re.ErrorDescription, cause: re}
	if re.ErrorCode == "invalid_grant" {
		return permanent(status, re.ErrorCode, cause)
	}
	return transient(status, re.ErrorCode, retryAfter, cause)
}

// temporaryError reports OAuth2 error codes by which a server says the
// failure is its own and passing (RFC 6749 section 4.1.2.1).
func temporaryError(code string) bool {
	return code == "server_error" || code == "temporarily_unavailable"
}

// configurationError reports OAuth2 error codes (RFC 6749 section 5.2) that
// blame the client's setup rather than the refresh token: logging in again
// would not help, so they do not end the session.
func configurationError(code string) bool {
	switch code {
	case "invalid_client", "invalid_request", "unauthorized_client", "unsupported_grant_type", "invalid_scope":
		return true
	}
	return false
}

// endpointError is a token endpoint's error answer, reduced to the fields
// that are safe to print.
type endpointError struct {
	status      int
	code        string
	description string
	cause       error // x/oauth2's error, for errors.As; its text is not shown
}

// Unwrap returns the full error, such as an *oauth2.RetrieveError with the
// response body, for callers that inspect it on purpose.
func (e *endpointError) Unwrap() error { return e.cause }

func (e *endpointError) Error() string {
	msg := "token endpoint answered " + strconv.Itoa(e.status)
	if t := http.StatusText(e.status); t != "" {
		msg += " " + t
	}
	if e.description != "" {
		msg += ": " + clip(e.description, 200)
	}
	return msg
}

// clip shortens server-provided text that goes into an error message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil && secs > 0 {
		// Capped, so the product cannot overflow.
		return time.Duration(min(int64(secs), math.MaxInt64/int64(time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
