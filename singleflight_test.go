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

// waitingContext closes waiting the first time its Done channel is asked
// for. Source.refresh asks only once it has joined or started a refresh and
// is about to wait for it, so a test can tell that a caller waits without
// sleeping.
type waitingContext struct {
	context.Context
	once    sync.Once
	waiting chan struct{}
}

func newWaitingContext() *waitingContext {
	return &waitingContext{Context: context.Background(), waiting: make(chan struct{})}
}

func (c *waitingContext) Done() <-chan struct{} {
	c.once.Do(func() { close(c.waiting) })
	return c.Context.Done()
}

// gatedUnlockLocker is an in-process Locker whose first unlock closes
// unlocking and then waits for release: it holds a refresh in its last
// moments, its token published but the refresh not over.
type gatedUnlockLocker struct {
	mu                 sync.Mutex
	once               sync.Once
	unlocking, release chan struct{}
}

func newGatedUnlockLocker() *gatedUnlockLocker {
	return &gatedUnlockLocker{unlocking: make(chan struct{}), release: make(chan struct{})}
}

func (l *gatedUnlockLocker) Lock(context.Context) (func() error, error) {
	l.mu.Lock()
	return func() error {
		l.once.Do(func() { close(l.unlocking); <-l.release })
		l.mu.Unlock()
		return nil
	}, nil
}

// A refresh has published its token but not finished (it is releasing the
// Locker) when a server rejects that very token, or the application asks for
// a refresh. The caller joins the finishing refresh, whose result is the
// token it wants replaced: it must refresh again rather than take it.
func TestRejectAfterARefreshJustPublishedRefreshesAgain(t *testing.T) {
	for _, tc := range []struct {
		name string
		call func(ctx context.Context, src *Source, published *oauth2.Token) (*oauth2.Token, error)
	}{
		{"Reject", func(ctx context.Context, src *Source, published *oauth2.Token) (*oauth2.Token, error) {
			return src.Reject(ctx, published)
		}},
		{"Refresh", func(ctx context.Context, src *Source, _ *oauth2.Token) (*oauth2.Token, error) {
			return src.Refresh(ctx)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			initial := newToken(clock, time.Minute)
			clock.Advance(time.Minute)
			r := rotating(t, clock, time.Hour)
			locker := newGatedUnlockLocker()
			src := NewSource(r, WithToken(initial), WithStore(NewMemoryStore(initial)), WithLocker(locker), WithClock(clock.Now))

			first := make(chan error, 1)
			go func() { _, err := src.TokenContext(context.Background()); first <- err }()
			<-locker.unlocking
			published, err := src.TokenContext(context.Background())
			require.NoError(t, err)
			require.NotEqual(t, initial.AccessToken, published.AccessToken)

			type result struct {
				tok *oauth2.Token
				err error
			}
			ctx := newWaitingContext()
			done := make(chan result, 1)
			go func() { tok, err := tc.call(ctx, src, published); done <- result{tok, err} }()
			<-ctx.waiting // it has joined the finishing refresh
			close(locker.release)

			require.NoError(t, <-first)
			res := <-done
			require.NoError(t, res.err)
			require.NotNil(t, res.tok, "no token and no error")
			assert.NotEqual(t, published.AccessToken, res.tok.AccessToken, "the token to be replaced came back")
			assert.EqualValues(t, 2, r.calls.Load())
		})
	}
}

// roundTripFunc is an http.RoundTripper that calls itself.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// A request sent with token N gets its 401 after N was replaced by N+1,
// while a background refresh of N+1 is stuck on a slow token endpoint. The
// request is resent with N+1 at once; it does not wait for that refresh.
func TestStale401DoesNotWaitForAnUnrelatedRefresh(t *testing.T) {
	clock := newFakeClock()
	old := newToken(clock, time.Hour)
	current := newToken(clock, time.Hour)
	entered, release := make(chan struct{}), make(chan struct{})
	r := &countingRefresher{fn: func(ctx context.Context, cur *oauth2.Token) (*oauth2.Token, error) {
		if cur.RefreshToken == old.RefreshToken {
			return current, nil
		}
		close(entered) // the refresh of current hangs
		<-release
		return newToken(clock, time.Hour), nil
	}}
	src := NewSource(r, WithToken(old), WithClock(clock.Now))

	// The base never looks at the request's context, so only the Source
	// can set off its waiting signal.
	inFlight, answer := make(chan struct{}), make(chan struct{})
	var sent []string
	base := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		auth := req.Header.Get("Authorization")
		sent = append(sent, auth)
		if auth == "Bearer "+old.AccessToken {
			close(inFlight)
			<-answer // meanwhile the token is replaced and its refresh starts
			return &http.Response{StatusCode: http.StatusUnauthorized, Body: http.NoBody, Request: req,
				Header: http.Header{"Www-Authenticate": {`Bearer error="invalid_token"`}}}, nil
		}
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: req}, nil
	})
	tr := &Transport{Source: src, Base: base}
	ctx := newWaitingContext()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://api.example.com/data", nil)
	require.NoError(t, err)

	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := tr.RoundTrip(req)
		if err != nil {
			done <- result{0, err}
			return
		}
		_ = resp.Body.Close()
		done <- result{resp.StatusCode, nil}
	}()
	<-inFlight
	_, err = src.Refresh(context.Background())
	require.NoError(t, err)
	clock.Advance(time.Hour - 45*time.Second) // current is in its early-refresh window
	_, err = src.TokenContext(context.Background())
	require.NoError(t, err)
	<-entered
	close(answer)

	var res result
	select {
	case res = <-done:
		close(release)
	case <-ctx.waiting:
		t.Error("the stale 401 waited for the refresh of the token that replaced it")
		close(release)
		res = <-done
	}
	require.NoError(t, src.Wait(context.Background()))
	require.NoError(t, res.err)
	assert.Equal(t, http.StatusOK, res.status)
	assert.Equal(t, []string{"Bearer " + old.AccessToken, "Bearer " + current.AccessToken}, sent)
	assert.EqualValues(t, 2, r.calls.Load())
}
