package demoserver_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenrefresh/tokenrefresh/internal/demoserver"
)

func TestRefreshWithoutRotation(t *testing.T) {
	h := newHarness(t, demoserver.Config{})
	login := h.login()

	for name, send := range map[string]func() result{
		"json": func() result { return h.refresh(login.refresh) },
		"form": func() result { return h.postForm("/refresh", url.Values{"refresh_token": {login.refresh}}) },
	} {
		t.Run(name, func(t *testing.T) {
			r := send()
			tok := r.tokens(t)
			assert.NotContains(t, r.body, "refresh_token", "a non-rotating refresh must not return a refresh token")
			assert.NotEqual(t, login.access, tok.access)
			assert.Equal(t, "Bearer", r.str("token_type"))
			assert.EqualValues(t, 60, r.body["expires_in"])
			assert.Equal(t, "no-store", r.header.Get("Cache-Control"))
			h.requireAPIOK(tok.access)
		})
	}
	// Earlier access tokens stay valid until they expire.
	h.requireAPIOK(login.access)

	st := h.srv.Stats()
	assert.Equal(t, 2, st.Refreshes)
	assert.Zero(t, st.RefreshRejected)
}

func TestRefreshWithRotation(t *testing.T) {
	h := newHarness(t, demoserver.Config{Rotate: true})
	login := h.login()

	second := h.refresh(login.refresh).tokens(t)
	require.NotEmpty(t, second.refresh)
	assert.NotEqual(t, login.refresh, second.refresh)

	requireInvalidGrant(t, h.refresh(login.refresh), "refresh token already used")

	// Without DetectReuse the reuse only costs the presenter: the family
	// lives on.
	third := h.refresh(second.refresh).tokens(t)
	h.requireAPIOK(second.access)
	h.requireAPIOK(third.access)

	st := h.srv.Stats()
	assert.Equal(t, 2, st.Refreshes)
	assert.Equal(t, 1, st.RefreshRejected)
	assert.Equal(t, 1, st.ReuseDetected)
	assert.Zero(t, st.SessionsRevoked)
}

func TestRefreshReuseDetectionRevokesSession(t *testing.T) {
	h := newHarness(t, demoserver.Config{Rotate: true, DetectReuse: true})
	victim := h.login()
	bystander := h.login() // another session of the same user

	stolen := victim.refresh
	legit := h.refresh(victim.refresh).tokens(t)
	h.requireAPIOK(legit.access)

	// The thief (or a racing client) replays the rotated token.
	requireInvalidGrant(t, h.refresh(stolen), "refresh token already used")

	requireInvalidGrant(t, h.refresh(legit.refresh), "refresh token revoked")
	h.requireAPIRejected(victim.access, "access token revoked")
	h.requireAPIRejected(legit.access, "access token revoked")
	// Replaying again is still reuse, and does not count a second
	// revocation.
	requireInvalidGrant(t, h.refresh(stolen), "refresh token already used")

	h.requireAPIOK(bystander.access)
	h.refresh(bystander.refresh).tokens(t)

	st := h.srv.Stats()
	assert.Equal(t, 2, st.ReuseDetected)
	assert.Equal(t, 1, st.SessionsRevoked)
	assert.Equal(t, 3, st.RefreshRejected)
	assert.Equal(t, 2, st.Refreshes)
}

func TestDetectReuseWithoutRotationIsInert(t *testing.T) {
	h := newHarness(t, demoserver.Config{DetectReuse: true})
	login := h.login()
	for range 3 {
		h.refresh(login.refresh).tokens(t)
	}
	assert.Zero(t, h.srv.Stats().ReuseDetected)
}

func TestRefreshTokenExpiryIsFixedAtIssue(t *testing.T) {
	h := newHarness(t, demoserver.Config{RefreshTTL: time.Hour})
	login := h.login()

	h.clock.Advance(30 * time.Minute)
	h.refresh(login.refresh).tokens(t)
	// Refreshing did not extend the refresh token's life.
	h.clock.Advance(30*time.Minute - time.Nanosecond)
	h.refresh(login.refresh).tokens(t)
	h.clock.Advance(time.Nanosecond)
	requireInvalidGrant(t, h.refresh(login.refresh), "refresh token expired")
}

func TestRotatedRefreshTokenLivesFromItsOwnIssue(t *testing.T) {
	h := newHarness(t, demoserver.Config{Rotate: true, RefreshTTL: time.Hour})
	login := h.login()

	h.clock.Advance(30 * time.Minute)
	mid := h.refresh(login.refresh).tokens(t)

	// Past the original token's expiry, but not mid's.
	h.clock.Advance(time.Hour - time.Nanosecond)
	last := h.refresh(mid.refresh).tokens(t)

	h.clock.Advance(time.Hour)
	requireInvalidGrant(t, h.refresh(last.refresh), "refresh token expired")
}

func TestExpiredSpentTokenIsNotReuse(t *testing.T) {
	h := newHarness(t, demoserver.Config{Rotate: true, DetectReuse: true, RefreshTTL: time.Hour})
	login := h.login()
	next := h.refresh(login.refresh).tokens(t)
	h.clock.Advance(time.Hour)
	// The spent token has expired: answering "expired" and not revoking
	// keeps reuse detection independent of when the server forgets
	// tokens.
	requireInvalidGrant(t, h.refresh(login.refresh), "refresh token expired")
	assert.Zero(t, h.srv.Stats().SessionsRevoked)
	requireInvalidGrant(t, h.refresh(next.refresh), "refresh token expired")
}

func TestRefreshRejectsUnknownAndMalformed(t *testing.T) {
	h := newHarness(t, demoserver.Config{})
	requireInvalidGrant(t, h.refresh("not-a-token"), "refresh token unknown")
	login := h.login()
	// An access token is not a refresh token.
	requireInvalidGrant(t, h.refresh(login.access), "refresh token unknown")

	for name, r := range map[string]result{
		"missing":    h.postJSON("/refresh", map[string]string{}),
		"empty":      h.postForm("/refresh", url.Values{"refresh_token": {""}}),
		"not text":   h.postRaw("/refresh", "application/json", `{"refresh_token":true}`),
		"bad json":   h.postRaw("/refresh", "application/json", `{`),
		"wrong ct":   h.postRaw("/refresh", "text/plain", login.refresh),
		"wrong verb": h.do(h.request(http.MethodGet, "/refresh", "", "")),
	} {
		t.Run(name, func(t *testing.T) {
			assert.Contains(t, []int{http.StatusBadRequest, http.StatusMethodNotAllowed}, r.status, r.raw)
			assert.Equal(t, "invalid_request", r.str("error"))
			assert.NotEmpty(t, r.str("error_description"))
		})
	}
	st := h.srv.Stats()
	assert.Equal(t, 2, st.RefreshRejected)
	assert.Equal(t, 6, st.BadRequests)
	assert.Zero(t, st.Refreshes)
}

func TestInProcessRefresh(t *testing.T) {
	h := newHarness(t, demoserver.Config{Rotate: true})
	login, err := h.srv.Login("demo", "demo")
	require.NoError(t, err)

	next, err := h.srv.Refresh(context.Background(), login.RefreshToken)
	require.NoError(t, err)
	assert.NotEqual(t, login.RefreshToken, next.RefreshToken)

	_, err = h.srv.Refresh(context.Background(), login.RefreshToken)
	require.ErrorIs(t, err, demoserver.ErrInvalidGrant)
	require.ErrorIs(t, err, demoserver.ErrTokenReused)

	_, err = h.srv.Refresh(context.Background(), "bogus")
	require.ErrorIs(t, err, demoserver.ErrTokenUnknown)
}

func TestRefreshDelayHonoursCancellation(t *testing.T) {
	h := newHarness(t, demoserver.Config{Rotate: true, RefreshDelay: time.Millisecond})
	login, err := h.srv.Login("demo", "demo")
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = h.srv.Refresh(ctx, login.RefreshToken)
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, demoserver.ErrInvalidGrant)

	// The abandoned refresh did not spend the token.
	_, err = h.srv.Refresh(context.Background(), login.RefreshToken)
	require.NoError(t, err)

	st := h.srv.Stats()
	assert.Equal(t, 1, st.RefreshCanceled)
	assert.Equal(t, 1, st.Refreshes)
	assert.Zero(t, st.RefreshRejected)
}

func TestRefreshDelayCancelledOverHTTP(t *testing.T) {
	srv := demoserver.New(demoserver.Config{Rotate: true, RefreshDelay: time.Hour})
	entered, done := make(chan struct{}), make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		close(entered)
		srv.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	login, err := srv.Login("demo", "demo")
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.URL+"/refresh",
		strings.NewReader(url.Values{"refresh_token": {login.RefreshToken}}.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	errc := make(chan error, 1)
	go func() {
		resp, err := ts.Client().Do(req)
		if err == nil {
			resp.Body.Close()
			err = errors.New("request unexpectedly completed")
		}
		errc <- err
	}()
	<-entered
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
	<-done // the handler returned long before the hour-long delay

	st := srv.Stats()
	assert.Equal(t, 1, st.RefreshCanceled)
	assert.Zero(t, st.Refreshes)
}

func TestRefreshDelayApplies(t *testing.T) {
	const delay = 30 * time.Millisecond
	h := newHarness(t, demoserver.Config{RefreshDelay: delay})
	login := h.login()
	start := time.Now()
	h.refresh(login.refresh).tokens(t)
	assert.GreaterOrEqual(t, time.Since(start), delay)
}
