package tokenrefresh

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/oauth2"
)

// classify turns a Refresher's error into a RefreshError. Only an explicit
// rejection of the refresh token ends a session: anything unrecognised is
// transient, since ending a session by mistake costs the user a login,
// while a transient error only costs a retry.
func classify(err error) *RefreshError {
	var re *RefreshError
	if errors.As(err, &re) {
		return re
	}
	var oe *oauth2.RetrieveError
	if errors.As(err, &oe) {
		return classifyRetrieve(oe)
	}
	return transient(0, "", 0, err)
}

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
	cause := &endpointError{status: status, code: re.ErrorCode, description: re.ErrorDescription}
	if re.ErrorCode == "invalid_grant" {
		return permanent(status, re.ErrorCode, cause)
	}
	return transient(status, re.ErrorCode, retryAfter, cause)
}

// endpointError is a token endpoint's error answer, reduced to the fields
// that are safe to print.
type endpointError struct {
	status      int
	code        string
	description string
}

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
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
