package tokenrefresh

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/tokenrefresh/tokenrefresh/internal/testlog"
)

// Many goroutines get a 401 for the same token: one refresh, and every
// request succeeds with the new token.
func TestConcurrent401sShareOneRefresh(t *testing.T) {
	const n = 100
	clock := newFakeClock()
	rs := newResourceServer(t)
	old := newToken(clock, time.Hour) // valid by its expiry, revoked by the server
	next := newToken(clock, time.Hour)
	all401 := make(chan struct{})
	var withOld atomic.Int32
	rs.onRequest = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Header.Get("Authorization") == "Bearer "+old.AccessToken && withOld.Add(1) == n {
			close(all401)
		}
		return false
	}
	r := &countingRefresher{fn: func(ctx context.Context, cur *oauth2.Token) (*oauth2.Token, error) {
		// Hold the refresh until every request has had its 401, so they
		// all arrive at the refresh together.
		select {
		case <-all401:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		rs.accept(next)
		return next, nil
	}}
	src := NewSource(r, WithToken(old), WithClock(clock.Now))
	client := NewClient(src)
	defer client.CloseIdleConnections()

	var wg sync.WaitGroup
	var ok atomic.Int32
	for range n {
		wg.Go(func() {
			status, body, err := get(t, client, rs.URL+"/data")
			if assert.NoError(t, err) && assert.Equal(t, http.StatusOK, status, body) {
				ok.Add(1)
			}
		})
	}
	wg.Wait()

	assert.EqualValues(t, 1, r.calls.Load(), "refreshes")
	assert.EqualValues(t, n, ok.Load(), "successful requests")
	assert.EqualValues(t, n, rs.rejected.Load(), "401s")
	accepted := rs.accepted()
	require.Len(t, accepted, n)
	for _, a := range accepted {
		require.Equal(t, next.AccessToken, a, "a retry carried a token other than the new one")
	}
}

// A request sent with token N gets its 401 only after the token was
// refreshed to N+1: it is resent with N+1 and nothing more is refreshed.
func TestStale401IsRetriedWithoutAnotherRefresh(t *testing.T) {
	clock := newFakeClock()
	rs := newResourceServer(t)
	old := newToken(clock, time.Hour)
	rs.accept(old)
	r := rotating(t, clock, time.Hour)
	src := NewSource(r, WithToken(old), WithClock(clock.Now))

	inFlight, answer := make(chan struct{}), make(chan struct{})
	rs.onRequest = func(w http.ResponseWriter, req *http.Request) bool {
		if req.URL.Path != "/slow" || req.Header.Get("Authorization") != "Bearer "+old.AccessToken {
			return false
		}
		close(inFlight)
		<-answer // meanwhile the token is refreshed and the old one revoked
		return false
	}
	client := NewClient(src)
	defer client.CloseIdleConnections()

	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		status, _, err := get(t, client, rs.URL+"/slow")
		done <- result{status, err}
	}()
	<-inFlight
	next, err := src.Refresh(context.Background())
	require.NoError(t, err)
	rs.accept(next)
	close(answer)

	res := <-done
	require.NoError(t, res.err)
	assert.Equal(t, http.StatusOK, res.status)
	assert.EqualValues(t, 1, r.calls.Load(), "the stale 401 caused another refresh")
	assert.Equal(t, []string{next.AccessToken}, rs.accepted())
}

// The refresh token is rejected: every waiting caller learns the session is
// over, once, and later calls fail without network traffic.
func TestDefinitiveRejectionEndsTheSessionOnce(t *testing.T) {
	const n = 50
	clock := newFakeClock()
	var endpointHits atomic.Int32
	release := make(chan struct{})
	r := &countingRefresher{fn: func(ctx context.Context, cur *oauth2.Token) (*oauth2.Token, error) {
		endpointHits.Add(1)
		<-release
		return nil, permanent(400, "invalid_grant", nil)
	}}
	initial := newToken(clock, time.Minute)
	store := NewMemoryStore(initial)
	var reauths atomic.Int32
	logs := &testlog.Buffer{}
	src := NewSource(r, WithStore(store), WithClock(clock.Now), WithLogger(logs.Logger(slog.LevelDebug)),
		OnReauth(func(error) { reauths.Add(1) }))
	ctx := context.Background()
	_, err := src.TokenContext(ctx)
	require.NoError(t, err)
	clock.Advance(time.Minute)

	var started, wg sync.WaitGroup
	errs := make([]error, n)
	started.Add(n)
	for i := range n {
		wg.Go(func() {
			started.Done()
			_, errs[i] = src.TokenContext(ctx)
		})
	}
	started.Wait()
	close(release)
	wg.Wait()

	for _, err := range errs {
		require.ErrorIs(t, err, ErrReauthRequired)
		var re *RefreshError
		require.ErrorAs(t, err, &re)
		assert.True(t, re.Permanent)
		assert.Equal(t, "invalid_grant", re.ErrorCode)
	}
	assert.EqualValues(t, 1, r.calls.Load())
	assert.EqualValues(t, 1, reauths.Load(), "OnReauth")
	_, err = store.Load(ctx)
	require.ErrorIs(t, err, ErrNoToken, "the rejected token stayed in the store")

	for range 10 {
		_, err = src.TokenContext(ctx)
		require.ErrorIs(t, err, ErrReauthRequired)
	}
	assert.EqualValues(t, 1, endpointHits.Load(), "a dead session still calls the token endpoint")
	assert.EqualValues(t, 1, reauths.Load())

	login := newToken(clock, time.Hour)
	require.NoError(t, src.SetToken(ctx, login))
	tok, err := src.TokenContext(ctx)
	require.NoError(t, err)
	assert.Equal(t, login.AccessToken, tok.AccessToken)
	stored, err := store.Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, login.RefreshToken, stored.RefreshToken)
	requireNoSecrets(t, []string{logs.String(), errs[0].Error()}, initial, login)
}
