package tokenrefresh

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/tokenrefresh/tokenrefresh/internal/testlog"
)

func TestHotPathDoesNoStoreIOAndTakesNoLock(t *testing.T) {
	clock := newFakeClock()
	store := newCountingStore(newToken(clock, time.Hour))
	src := NewSource(rotating(t, clock, time.Hour), WithStore(store), WithClock(clock.Now))
	ctx := context.Background()

	first, err := src.TokenContext(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, store.loads.Load(), "the store is read once, at start")

	allocs := testing.AllocsPerRun(1000, func() {
		tok, err := src.TokenContext(ctx)
		if err != nil || tok != first {
			t.Fatalf("got %v, %v", tok, err)
		}
	})
	assert.Zero(t, allocs, "the hot path allocates")
	assert.EqualValues(t, 1, store.loads.Load(), "the hot path reads the store")
	assert.Zero(t, store.saves.Load())

	// With the Source's mutex held elsewhere, the hot path still answers.
	src.mu.Lock()
	defer src.mu.Unlock()
	done := make(chan error, 1)
	go func() { _, err := src.TokenContext(ctx); done <- err }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("TokenContext waited for the Source's mutex")
	}
}

func TestRefreshesWithinLeeway(t *testing.T) {
	clock := newFakeClock()
	r := rotating(t, clock, time.Hour)
	initial := newToken(clock, time.Hour)
	src := NewSource(r, WithToken(initial), WithClock(clock.Now), WithEarlyRefresh(0))
	ctx := context.Background()

	clock.Advance(time.Hour - 31*time.Second)
	tok, err := src.TokenContext(ctx)
	require.NoError(t, err)
	assert.Equal(t, initial.AccessToken, tok.AccessToken, "refreshed before the leeway")
	assert.Zero(t, r.calls.Load())

	clock.Advance(2 * time.Second) // 29 s before expiry: inside the 30 s leeway
	tok, err = src.TokenContext(ctx)
	require.NoError(t, err)
	assert.NotEqual(t, initial.AccessToken, tok.AccessToken)
	assert.EqualValues(t, 1, r.calls.Load())
	assert.Equal(t, clock.Now().Add(time.Hour), tok.Expiry)
}

func TestLeewayNeverExceedsHalfTheLifetime(t *testing.T) {
	clock := newFakeClock()
	r := rotating(t, clock, 10*time.Second)
	src := NewSource(r, WithToken(newToken(clock, 10*time.Second)), WithClock(clock.Now), WithEarlyRefresh(0))
	ctx := context.Background()

	clock.Advance(4900 * time.Millisecond)
	_, err := src.TokenContext(ctx)
	require.NoError(t, err)
	assert.Zero(t, r.calls.Load(), "a 10 s token is refreshed before half its life")

	clock.Advance(200 * time.Millisecond)
	_, err = src.TokenContext(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 1, r.calls.Load())

	// The new token is fresh for 5 s again: no refresh loop.
	for range 10 {
		_, err = src.TokenContext(ctx)
		require.NoError(t, err)
	}
	assert.EqualValues(t, 1, r.calls.Load())
}

func TestEarlyRefreshServesValidTokenWhileOneRefreshRunsInBackground(t *testing.T) {
	clock := newFakeClock()
	entered, release := make(chan struct{}), make(chan struct{})
	next := newToken(clock, 2*time.Hour)
	r := &countingRefresher{fn: func(ctx context.Context, cur *oauth2.Token) (*oauth2.Token, error) {
		close(entered)
		<-release
		return next, nil
	}}
	initial := newToken(clock, time.Hour)
	src := NewSource(r, WithToken(initial), WithClock(clock.Now), WithLeeway(30*time.Second), WithEarlyRefresh(time.Minute))
	ctx := context.Background()

	clock.Advance(time.Hour - 45*time.Second) // inside the early window, before the leeway
	for range 20 {
		tok, err := src.TokenContext(ctx)
		require.NoError(t, err)
		require.Equal(t, initial.AccessToken, tok.AccessToken, "a caller waited for the refresh")
	}
	<-entered
	close(release)

	clock.Advance(20 * time.Second) // inside the leeway: waits for the one refresh
	tok, err := src.TokenContext(ctx)
	require.NoError(t, err)
	assert.Equal(t, next.AccessToken, tok.AccessToken)
	assert.EqualValues(t, 1, r.calls.Load())
}

func TestRefreshIsDetachedFromTheCallerThatStartedIt(t *testing.T) {
	clock := newFakeClock()
	entered, release := make(chan struct{}), make(chan struct{})
	next := newToken(clock, time.Hour)
	var refreshCtxErr error
	var deadline bool
	r := &countingRefresher{fn: func(ctx context.Context, cur *oauth2.Token) (*oauth2.Token, error) {
		close(entered)
		<-release
		refreshCtxErr = ctx.Err()
		_, deadline = ctx.Deadline()
		return next, nil
	}}
	src := NewSource(r, WithToken(newToken(clock, time.Minute)), WithClock(clock.Now))
	clock.Advance(time.Minute)

	firstCtx, cancelFirst := context.WithCancel(context.Background())
	firstErr := make(chan error, 1)
	go func() { _, err := src.TokenContext(firstCtx); firstErr <- err }()
	<-entered

	// A second caller joins the same refresh, with a context that ends.
	waiterCtx, cancelWaiter := context.WithCancel(context.Background())
	waiterErr := make(chan error, 1)
	go func() { _, err := src.TokenContext(waiterCtx); waiterErr <- err }()
	cancelWaiter()
	require.ErrorIs(t, <-waiterErr, context.Canceled, "a waiter whose context ended did not return with ctx.Err()")

	cancelFirst()
	require.ErrorIs(t, <-firstErr, context.Canceled)

	// A third caller is still served by the refresh the first one started.
	third := make(chan *oauth2.Token, 1)
	go func() { tok, _ := src.TokenContext(context.Background()); third <- tok }()
	close(release)
	tok := <-third
	require.NotNil(t, tok)
	assert.Equal(t, next.AccessToken, tok.AccessToken)
	assert.NoError(t, refreshCtxErr, "the refresh was cancelled with its first caller")
	assert.True(t, deadline, "the refresh has no timeout of its own")
	assert.EqualValues(t, 1, r.calls.Load())
}

func TestRefreshTimeout(t *testing.T) {
	clock := newFakeClock()
	r := &countingRefresher{fn: func(ctx context.Context, cur *oauth2.Token) (*oauth2.Token, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	initial := newToken(clock, time.Minute)
	store := NewMemoryStore(initial)
	src := NewSource(r, WithStore(store), WithClock(clock.Now), WithRefreshTimeout(20*time.Millisecond))
	_, err := src.TokenContext(context.Background())
	require.NoError(t, err)
	clock.Advance(time.Minute)

	_, err = src.TokenContext(context.Background())
	var re *RefreshError
	require.ErrorAs(t, err, &re)
	assert.False(t, re.Permanent)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotErrorIs(t, err, ErrReauthRequired)
	stored, err := store.Load(context.Background())
	require.NoError(t, err)
	assert.Equal(t, initial.RefreshToken, stored.RefreshToken, "a timeout cost the refresh token")
}

func TestTransientFailureKeepsTheSessionAndBacksOff(t *testing.T) {
	clock := newFakeClock()
	var fail sync.Map // set "yes" while the endpoint fails
	fail.Store("yes", true)
	next := newToken(clock, time.Hour)
	r := &countingRefresher{fn: func(ctx context.Context, cur *oauth2.Token) (*oauth2.Token, error) {
		if _, ok := fail.Load("yes"); ok {
			return nil, transient(503, "", 10*time.Second, errors.New("service unavailable"))
		}
		return next, nil
	}}
	initial := newToken(clock, time.Hour)
	store := NewMemoryStore(initial)
	logs := &testlog.Buffer{}
	src := NewSource(r, WithStore(store), WithClock(clock.Now), WithEarlyRefresh(0),
		WithBackoff(time.Second, time.Minute), WithLogger(logs.Logger(slog.LevelDebug)))
	ctx := context.Background()

	_, err := src.TokenContext(ctx) // loads the store
	require.NoError(t, err)

	// Inside the leeway but not expired: the failure is logged and the
	// still-valid token is served.
	clock.Advance(time.Hour - 5*time.Second)
	tok, err := src.TokenContext(ctx)
	require.NoError(t, err)
	assert.Equal(t, initial.AccessToken, tok.AccessToken)
	assert.EqualValues(t, 1, r.calls.Load())

	// Backing off: no new attempt before Retry-After, token still served.
	for range 5 {
		tok, err = src.TokenContext(ctx)
		require.NoError(t, err)
		assert.Equal(t, initial.AccessToken, tok.AccessToken)
	}
	assert.EqualValues(t, 1, r.calls.Load(), "a failing token endpoint was hammered")

	// Once expired, callers get the transient error, still without traffic.
	clock.Advance(5 * time.Second)
	_, err = src.TokenContext(ctx)
	transientErr := err2str(err)
	var re *RefreshError
	require.ErrorAs(t, err, &re)
	assert.False(t, re.Permanent)
	assert.Equal(t, 503, re.StatusCode)
	assert.NotErrorIs(t, err, ErrReauthRequired)
	assert.EqualValues(t, 1, r.calls.Load())

	stored, err := store.Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, initial.RefreshToken, stored.RefreshToken, "a transient failure cost the refresh token")

	// After Retry-After the endpoint is tried again, and recovers.
	fail.Delete("yes")
	clock.Advance(5 * time.Second)
	tok, err = src.TokenContext(ctx)
	require.NoError(t, err)
	assert.Equal(t, next.AccessToken, tok.AccessToken)
	assert.EqualValues(t, 2, r.calls.Load())
	assert.Contains(t, logs.String(), "status=503")
	requireNoSecrets(t, []string{logs.String(), transientErr}, initial, next)
}

func err2str(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestBackoffGrowsWithJitterAndHonoursRetryAfter(t *testing.T) {
	clock := newFakeClock()
	src := NewSource(RefresherFunc(nil), WithClock(clock.Now), WithBackoff(time.Second, 16*time.Second))
	for i, want := range []time.Duration{1, 2, 4, 8, 16, 16} {
		wait := src.backOff(transient(503, "", 0, nil))
		want *= time.Second
		assert.GreaterOrEqual(t, wait, want/2, "failure %d", i+1)
		assert.LessOrEqual(t, wait, want, "failure %d", i+1)
	}
	assert.Equal(t, 16*time.Second, src.backOff(transient(503, "", time.Hour, nil)), "Retry-After beyond the maximum")
	src.mu.Lock()
	src.resetBackoffLocked()
	src.mu.Unlock()
	assert.Equal(t, 7*time.Second, src.backOff(transient(429, "", 7*time.Second, nil)), "Retry-After ignored")

	// Jitter: many first failures do not all wait the same.
	seen := map[time.Duration]bool{}
	for range 50 {
		src.mu.Lock()
		src.resetBackoffLocked()
		src.mu.Unlock()
		seen[src.backOff(transient(503, "", 0, nil))] = true
	}
	assert.Greater(t, len(seen), 10, "no jitter")
}

func TestRotationSavesBeforeUseAndKeepsUnrotatedRefreshToken(t *testing.T) {
	clock := newFakeClock()
	initial := newToken(clock, time.Minute)
	rotated := newToken(clock, time.Hour)
	unrotated := &oauth2.Token{AccessToken: secret("at"), TokenType: "Bearer", ExpiresIn: 3600}
	answers := []*oauth2.Token{rotated, unrotated}
	r := &countingRefresher{fn: func(ctx context.Context, cur *oauth2.Token) (*oauth2.Token, error) {
		tok := answers[0]
		answers = answers[1:]
		return tok, nil
	}}
	store := newCountingStore(initial)
	var src *Source
	store.onSave = func(tok *oauth2.Token) {
		// Nobody may use the new token before it is saved.
		cur := src.cur.Load()
		assert.NotEqual(t, tok.AccessToken, cur.tok.AccessToken, "token in use before it was saved")
	}
	src = NewSource(r, WithStore(store), WithClock(clock.Now))
	ctx := context.Background()

	_, err := src.TokenContext(ctx)
	require.NoError(t, err)
	clock.Advance(time.Minute)
	tok, err := src.TokenContext(ctx)
	require.NoError(t, err)
	assert.Equal(t, rotated.AccessToken, tok.AccessToken)
	stored, err := store.Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, rotated.RefreshToken, stored.RefreshToken)

	tok, err = src.Refresh(ctx)
	require.NoError(t, err)
	assert.Equal(t, unrotated.AccessToken, tok.AccessToken)
	assert.Equal(t, rotated.RefreshToken, tok.RefreshToken, "an answer without a refresh token dropped the old one")
	stored, err = store.Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, rotated.RefreshToken, stored.RefreshToken)
	assert.Equal(t, clock.Now().Add(time.Hour), stored.Expiry, "expires_in not applied on the Source's clock")
	assert.EqualValues(t, 2, store.saves.Load())
}

func TestSaveFailureKeepsNewTokenAndNeverResendsOldRefreshToken(t *testing.T) {
	clock := newFakeClock()
	initial := newToken(clock, time.Minute)
	r := rotating(t, clock, time.Hour) // fails the test on reuse
	store := newCountingStore(initial)
	logs := &testlog.Buffer{}
	src := NewSource(r, WithStore(store), WithLocker(nopLocker{}), WithClock(clock.Now), WithLogger(logs.Logger(slog.LevelDebug)))
	ctx := context.Background()
	_, err := src.TokenContext(ctx)
	require.NoError(t, err)

	errDiskFull := errors.New("disk full")
	store.saveErr.Store(&errDiskFull)
	tok, err := src.Refresh(ctx)
	require.ErrorIs(t, err, errDiskFull, "a failed save was not reported")
	require.NotNil(t, tok)
	assert.NotEqual(t, initial.AccessToken, tok.AccessToken)
	cur, err := src.TokenContext(ctx)
	require.NoError(t, err)
	assert.Equal(t, tok.AccessToken, cur.AccessToken, "the new token was dropped")
	assert.Contains(t, logs.String(), "save refreshed token")

	// The store still holds the old token; the next refresh must spend the
	// new refresh token from memory, not the old one from the store.
	store.saveErr.Store(nil)
	next, err := src.Refresh(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 2, r.calls.Load())
	stored, err := store.Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, next.RefreshToken, stored.RefreshToken)
	requireNoSecrets(t, []string{logs.String(), errDiskFull.Error()}, initial, tok, next)
}

// nopLocker is a Locker for a single process.
type nopLocker struct{}

func (nopLocker) Lock(context.Context) (func() error, error) { return func() error { return nil }, nil }

func TestStartsFromStoreOrAsksForLogin(t *testing.T) {
	clock := newFakeClock()
	ctx := context.Background()

	empty := NewSource(rotating(t, clock, time.Hour), WithStore(NewMemoryStore(nil)), WithClock(clock.Now))
	_, err := empty.TokenContext(ctx)
	require.ErrorIs(t, err, ErrReauthRequired)

	none := NewSource(rotating(t, clock, time.Hour), WithClock(clock.Now))
	_, err = none.TokenContext(ctx)
	require.ErrorIs(t, err, ErrReauthRequired)

	login := newToken(clock, time.Hour)
	require.NoError(t, none.SetToken(ctx, login))
	tok, err := none.TokenContext(ctx)
	require.NoError(t, err)
	assert.Equal(t, login.AccessToken, tok.AccessToken)

	// An expired stored token is refreshed on first use.
	r := rotating(t, clock, time.Hour)
	stale := newToken(clock, time.Second)
	clock.Advance(time.Minute)
	fromStore := NewSource(r, WithStore(NewMemoryStore(stale)), WithClock(clock.Now))
	tok, err = fromStore.TokenContext(ctx)
	require.NoError(t, err)
	assert.NotEqual(t, stale.AccessToken, tok.AccessToken)
	assert.EqualValues(t, 1, r.calls.Load())

	// A store that cannot be read at start is an error, not a lost session.
	broken := newCountingStore(stale)
	errLocked := errors.New("collection locked")
	broken.loadErr.Store(&errLocked)
	_, err = NewSource(r, WithStore(broken)).TokenContext(ctx)
	require.ErrorIs(t, err, errLocked)
	assert.NotErrorIs(t, err, ErrReauthRequired)
}

func TestSetTokenRejectsBadInputAndLogoutClearsTheStore(t *testing.T) {
	clock := newFakeClock()
	store := NewMemoryStore(newToken(clock, time.Hour))
	src := NewSource(rotating(t, clock, time.Hour), WithStore(store), WithClock(clock.Now))
	ctx := context.Background()

	err := src.SetToken(ctx, &oauth2.Token{RefreshToken: secret("rt")})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no access token")
	require.Error(t, src.SetToken(ctx, nil))

	require.NoError(t, src.Logout(ctx))
	_, err = store.Load(ctx)
	require.ErrorIs(t, err, ErrNoToken)
	_, err = src.TokenContext(ctx)
	require.ErrorIs(t, err, ErrReauthRequired)
}

func TestStringRevealsNoToken(t *testing.T) {
	clock := newFakeClock()
	tok := newToken(clock, time.Hour)
	src := NewSource(rotating(t, clock, time.Hour), WithToken(tok), WithClock(clock.Now))
	s := src.String()
	assert.True(t, strings.HasPrefix(s, "tokenrefresh.Source{"), s)
	assert.Contains(t, s, "refresh token: true")
	requireNoSecrets(t, []string{s}, tok)
}

func TestWaitLetsARefreshAbandonedByItsCallerFinishAndSave(t *testing.T) {
	clock := newFakeClock()
	entered, release := make(chan struct{}), make(chan struct{})
	next := newToken(clock, time.Hour)
	r := &countingRefresher{fn: func(ctx context.Context, cur *oauth2.Token) (*oauth2.Token, error) {
		close(entered)
		<-release
		return next, nil
	}}
	store := NewMemoryStore(newToken(clock, time.Minute))
	src := NewSource(r, WithStore(store), WithClock(clock.Now))
	require.NoError(t, src.Wait(context.Background()), "nothing to wait for")
	_, err := src.TokenContext(context.Background())
	require.NoError(t, err)
	clock.Advance(time.Minute)

	// The caller gives up (Ctrl-C); the refresh goes on.
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-entered; cancel() }()
	_, err = src.TokenContext(ctx)
	require.ErrorIs(t, err, context.Canceled)

	// Wait with a context that ends reports it.
	short, cancelShort := context.WithCancel(context.Background())
	cancelShort()
	require.ErrorIs(t, src.Wait(short), context.Canceled)

	saved := make(chan string, 1)
	go func() {
		_ = src.Wait(context.Background())
		tok, _ := store.Load(context.Background())
		saved <- tok.AccessToken
	}()
	close(release)
	assert.Equal(t, next.AccessToken, <-saved, "Wait returned before the refreshed token was saved")
}

// recordingLocker counts lock and unlock calls.
type recordingLocker struct{ locks, unlocks atomic.Int32 }

func (l *recordingLocker) Lock(context.Context) (func() error, error) {
	l.locks.Add(1)
	return func() error { l.unlocks.Add(1); return nil }, nil
}

func TestSetTokenAndLogoutHoldTheLock(t *testing.T) {
	clock := newFakeClock()
	locker := &recordingLocker{}
	src := NewSource(rotating(t, clock, time.Hour), WithStore(NewMemoryStore(nil)), WithLocker(locker), WithClock(clock.Now))
	require.NoError(t, src.SetToken(context.Background(), newToken(clock, time.Hour)))
	assert.EqualValues(t, 1, locker.locks.Load())
	require.NoError(t, src.Logout(context.Background()))
	assert.EqualValues(t, 2, locker.locks.Load())
	assert.EqualValues(t, 2, locker.unlocks.Load())
}

func TestAdoptedStoredTokenKeepsItsExpiry(t *testing.T) {
	clock := newFakeClock()
	// Saved by another process half an hour ago, with the expires_in of
	// its answer still set.
	stored := newToken(clock, time.Hour)
	stored.ExpiresIn = 3600
	clock.Advance(30 * time.Minute)
	src := NewSource(rotating(t, clock, time.Hour), WithStore(NewMemoryStore(stored)), WithClock(clock.Now))
	tok, err := src.TokenContext(context.Background())
	require.NoError(t, err)
	assert.Equal(t, stored.Expiry, tok.Expiry, "a stored token's expiry was moved")
}
