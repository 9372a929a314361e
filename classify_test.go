package tokenrefresh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// clRetrieveError is what x/oauth2 returns for a token endpoint's error
// answer. The body echoes secret, as some servers echo their input.
func clRetrieveError(status int, code, description string, header http.Header, secret string) *oauth2.RetrieveError {
	if header == nil {
		header = http.Header{}
	}
	body := fmt.Sprintf(`{"error":%q,"error_description":%q,"refresh_token":%q}`, code, description, secret)
	return &oauth2.RetrieveError{
		Response:         &http.Response{StatusCode: status, Header: header},
		Body:             []byte(body),
		ErrorCode:        code,
		ErrorDescription: description,
	}
}

func TestClassifyRetrieveError(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		code       string
		header     http.Header
		permanent  bool
		retryAfter time.Duration
	}{
		{name: "invalid_grant 400", status: 400, code: "invalid_grant", permanent: true},
		{name: "invalid_grant 401", status: 401, code: "invalid_grant", permanent: true},
		{name: "invalid_grant ignores Retry-After", status: 400, code: "invalid_grant", header: http.Header{"Retry-After": {"30"}}, permanent: true},
		{name: "invalid_client", status: 401, code: "invalid_client"},
		{name: "invalid_request", status: 400, code: "invalid_request"},
		{name: "unauthorized_client", status: 400, code: "unauthorized_client"},
		{name: "invalid_scope", status: 400, code: "invalid_scope"},
		{name: "no code 400", status: 400},
		{name: "server_error 500", status: 500, code: "server_error"},
		{name: "503 Retry-After", status: 503, header: http.Header{"Retry-After": {"120"}}, retryAfter: 2 * time.Minute},
		{name: "429 Retry-After", status: 429, code: "slow_down", header: http.Header{"Retry-After": {"5"}}, retryAfter: 5 * time.Second},
		{name: "503 bad Retry-After", status: 503, header: http.Header{"Retry-After": {"later"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secret := "rt-" + strings.Repeat("s3cr3t", 4)
			oe := clRetrieveError(tt.status, tt.code, "something happened", tt.header, secret)
			if tt.code == "" {
				require.Contains(t, oe.Error(), secret, "test premise: x/oauth2's message shows the body")
			}

			re := classify(oe)
			require.NotNil(t, re)
			assert.Equal(t, tt.permanent, re.Permanent)
			assert.Equal(t, tt.permanent, errors.Is(re, ErrReauthRequired))
			assert.Equal(t, tt.status, re.StatusCode)
			assert.Equal(t, tt.code, re.ErrorCode)
			assert.Equal(t, tt.retryAfter, re.RetryAfter)
			assert.NotContains(t, re.Error(), secret, "the response body leaked into the error")
			assert.Contains(t, re.Error(), "something happened", "the description is kept")
			assert.Contains(t, re.Error(), fmt.Sprint(tt.status))
		})
	}
}

func TestClassifyRetrieveErrorDateRetryAfter(t *testing.T) {
	h := http.Header{"Retry-After": {time.Now().Add(3 * time.Minute).UTC().Format(http.TimeFormat)}}
	re := classify(clRetrieveError(503, "", "", h, "x"))
	assert.False(t, re.Permanent)
	assert.Greater(t, re.RetryAfter, 2*time.Minute)
	assert.LessOrEqual(t, re.RetryAfter, 3*time.Minute)
}

func TestClassifyRetrieveErrorWithoutResponse(t *testing.T) {
	re := classify(&oauth2.RetrieveError{ErrorCode: "invalid_grant"})
	assert.True(t, re.Permanent)
	assert.Zero(t, re.StatusCode)
	assert.ErrorIs(t, re, ErrReauthRequired)

	re = classify(&oauth2.RetrieveError{ErrorCode: "temporarily_unavailable"})
	assert.False(t, re.Permanent)
	assert.Zero(t, re.StatusCode)
}

func TestClassifyFindsWrappedErrors(t *testing.T) {
	oe := clRetrieveError(400, "invalid_grant", "", nil, "x")
	for _, err := range []error{
		fmt.Errorf("oauth2: cannot fetch token: %w", oe),
		&url.Error{Op: "Post", URL: "https://example.com/token", Err: oe},
	} {
		re := classify(err)
		assert.True(t, re.Permanent, "%v", err)
		assert.Equal(t, "invalid_grant", re.ErrorCode)
		assert.Equal(t, 400, re.StatusCode)
	}
}

func TestClassifyKeepsRefreshErrors(t *testing.T) {
	perm := permanent(401, "invalid_grant", errors.New("no"))
	trans := transient(503, "", time.Second, errors.New("busy"))
	for _, re := range []*RefreshError{perm, trans} {
		assertSameVerdict(t, re, classify(re))
		assertSameVerdict(t, re, classify(fmt.Errorf("wrapped: %w", re)))
		assertSameVerdict(t, re, classify(&url.Error{Op: "Post", URL: "u", Err: re}))
	}
}

// assertSameVerdict checks that classify kept a RefreshError's fields and
// its cause.
func assertSameVerdict(t *testing.T, want, got *RefreshError) {
	t.Helper()
	assert.Equal(t, want.Permanent, got.Permanent)
	assert.Equal(t, want.StatusCode, got.StatusCode)
	assert.Equal(t, want.ErrorCode, got.ErrorCode)
	assert.Equal(t, want.RetryAfter, got.RetryAfter)
	assert.Equal(t, want.Error(), got.Error())
	if want.Err != nil {
		assert.ErrorIs(t, got, want.Err)
	}
}

func TestClassifyMasksTokensQuotedByServerOrRefresher(t *testing.T) {
	rt, at := secret("rt"), secret("at")
	oe := &oauth2.RetrieveError{
		Response:         &http.Response{StatusCode: 400, Header: http.Header{}},
		ErrorCode:        "invalid_grant " + rt,
		ErrorDescription: "refresh token " + rt + " revoked",
	}
	re := classify(oe, rt, at)
	assert.NotContains(t, re.Error(), rt)
	assert.NotContains(t, re.ErrorCode, rt)
	var got *oauth2.RetrieveError
	require.ErrorAs(t, re, &got, "the cause is still reachable")

	custom := fmt.Errorf("refresh with %s / %s failed: %w", rt, at, context.DeadlineExceeded)
	re = classify(custom, rt, at)
	assert.False(t, re.Permanent)
	assert.NotContains(t, re.Error(), rt)
	assert.NotContains(t, re.Error(), at)
	assert.ErrorIs(t, re, context.DeadlineExceeded)
}

// TestClassifyReauthRequired checks that a Refresher returning the
// sentinel itself ends the session, rather than getting a transient error
// that nonetheless matches ErrReauthRequired.
func TestClassifyReauthRequired(t *testing.T) {
	for _, err := range []error{ErrReauthRequired, fmt.Errorf("login: %w", ErrReauthRequired)} {
		re := classify(err)
		assert.True(t, re.Permanent, "%v", err)
		assert.ErrorIs(t, re, ErrReauthRequired)
		assert.ErrorIs(t, re, err)
	}
}

func TestClassifyArbitraryErrorsAreTransient(t *testing.T) {
	for _, err := range []error{
		errors.New("boom"),
		context.DeadlineExceeded,
		context.Canceled,
		io.ErrUnexpectedEOF,
		&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")},
		&url.Error{Op: "Post", URL: "https://example.com/token", Err: io.EOF},
		fmt.Errorf("refresh: %w", errors.New("invalid_grant")), // just text
	} {
		re := classify(err)
		require.NotNil(t, re)
		assert.False(t, re.Permanent, "%v", err)
		assert.NotErrorIs(t, re, ErrReauthRequired, "%v", err)
		assert.Zero(t, re.StatusCode)
		assert.Empty(t, re.ErrorCode)
		assert.Zero(t, re.RetryAfter)
		assert.ErrorIs(t, re, err, "the cause is kept")
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	gmt := func(layout string, d time.Duration) string {
		return strings.Replace(now.Add(d).Format(layout), "UTC", "GMT", 1)
	}
	maxRetryAfter := time.Duration(math.MaxInt64/int64(time.Second)) * time.Second
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"1", time.Second},
		{"120", 2 * time.Minute},
		{"86400", 24 * time.Hour},
		{"-1", 0},
		{"1.5", 0},
		{"soon", 0},
		{"120s", 0},
		{gmt(http.TimeFormat, 90*time.Second), 90 * time.Second},
		{gmt(time.RFC850, time.Hour), time.Hour},
		{now.Add(10 * time.Minute).Format(time.ANSIC), 10 * time.Minute},
		{gmt(http.TimeFormat, 0), 0},
		{gmt(http.TimeFormat, -time.Hour), 0},
		{"Wed, 99 Foo 2026 00:00:00 GMT", 0},
		// Beyond what a time.Duration holds: the longest wait, not a
		// wrapped-around one.
		{"9223372036", maxRetryAfter},
		{"10000000000", maxRetryAfter},
		{"9223372036854775807", maxRetryAfter},
	}
	for _, tt := range tests {
		got := parseRetryAfter(tt.in, now)
		assert.Equal(t, tt.want, got, "Retry-After: %q", tt.in)
		assert.GreaterOrEqual(t, got, time.Duration(0), "Retry-After: %q", tt.in)
	}
}

func TestEndpointErrorMessage(t *testing.T) {
	e := &endpointError{status: 400, code: "invalid_grant", description: strings.Repeat("d", 300)}
	assert.Equal(t, "token endpoint answered 400 Bad Request: "+strings.Repeat("d", 200)+"...", e.Error())
	e = &endpointError{status: 599}
	assert.Equal(t, "token endpoint answered 599", e.Error())
}

// A RefreshError keeps no token value anywhere in its chain, not only out of
// its text: %#v of a link, as a debugger or an error reporter walking the
// chain prints it, would otherwise show the tokens it was asked to mask.
func TestRefreshErrorKeepsNoSecrets(t *testing.T) {
	tok := &oauth2.Token{AccessToken: secret("at"), RefreshToken: secret("rt")}
	re := classify(errors.New("dial tcp: connection refused"), tok.RefreshToken, tok.AccessToken)
	var dumps []string
	for err := error(re); err != nil; err = errors.Unwrap(err) {
		dumps = append(dumps, fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
	}
	require.Len(t, dumps, 9, "the RefreshError, the masking link and the cause")
	requireNoSecrets(t, dumps, tok)
	assert.Contains(t, re.Error(), "connection refused")
}
