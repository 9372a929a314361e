package tokenrefresh

import (
	"context"
	"errors"
	"fmt"
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

// Another process refreshed our token and stored the result, which has gone
// stale too by the time we look. Ours was spent by that refresh, so every
// attempt, including the one after a transient failure, must send the stored
// refresh token.
func TestAdoptedStaleTokenIsRefreshedWithItsOwnRefreshToken(t *testing.T) {
	clock := newFakeClock()
	ours := newToken(clock, time.Hour)
	theirs := newToken(clock, time.Hour) // what the other process got for ours.RefreshToken
	store := NewMemoryStore(theirs)
	clock.Advance(2 * time.Hour) // both have expired
	next := newToken(clock, time.Hour)
	var sent []string
	r := &countingRefresher{fn: func(ctx context.Context, cur *oauth2.Token) (*oauth2.Token, error) {
		sent = append(sent, cur.RefreshToken)
		if len(sent) == 1 {
			return nil, transient(503, "", 0, errors.New("service unavailable"))
		}
		return next, nil
	}}
	src := NewSource(r, WithToken(ours), WithStore(store), WithLocker(nopLocker{}), WithClock(clock.Now),
		WithBackoff(time.Second, time.Second))
	ctx := context.Background()

	_, err := src.TokenContext(ctx)
	var re *RefreshError
	require.ErrorAs(t, err, &re)
	require.False(t, re.Permanent)

	clock.Advance(time.Second) // past the backoff
	tok, err := src.TokenContext(ctx)
	require.NoError(t, err)
	assert.Equal(t, next.AccessToken, tok.AccessToken)
	assert.Equal(t, []string{theirs.RefreshToken, theirs.RefreshToken}, sent,
		"the refresh after the failure sent our own refresh token, which the other process had spent")
	stored, err := store.Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, next.RefreshToken, stored.RefreshToken)
}

// On first use, a stored token inside the leeway but not yet expired is
// served while the token endpoint fails.
func TestStoredTokenInsideTheLeewayIsServedWhileTheEndpointFails(t *testing.T) {
	clock := newFakeClock()
	stored := newToken(clock, time.Hour)
	stored.ExpiresIn = 3600                   // saved with its answer's lifetime, so the full leeway applies
	clock.Advance(time.Hour - 20*time.Second) // inside the 30 s leeway, not expired
	r := &countingRefresher{fn: func(ctx context.Context, cur *oauth2.Token) (*oauth2.Token, error) {
		return nil, transient(503, "", 0, errors.New("service unavailable"))
	}}
	src := NewSource(r, WithStore(NewMemoryStore(stored)), WithClock(clock.Now))

	tok, err := src.TokenContext(context.Background())
	require.NoError(t, err, "a valid stored token was not served")
	assert.Equal(t, stored.AccessToken, tok.AccessToken)
	assert.EqualValues(t, 1, r.calls.Load())
}

// With a Locker, an empty or unreadable shared store means another process
// ended the session. Refreshing our own copy instead would undo a logout, or
// send a refresh token that a refresh elsewhere has spent.
func TestStoreEmptiedByAnotherProcessEndsTheSession(t *testing.T) {
	for _, tc := range []struct {
		name  string
		empty func(t *testing.T, other *Source, store *countingStore)
	}{
		{"logged out elsewhere", func(t *testing.T, other *Source, _ *countingStore) {
			require.NoError(t, other.Logout(context.Background()))
		}},
		{"cleared after a refresh elsewhere", func(t *testing.T, other *Source, store *countingStore) {
			_, err := other.Refresh(context.Background()) // spends the refresh token we hold too
			require.NoError(t, err)
			require.NoError(t, store.Delete(context.Background())) // say, a cache restarted empty
		}},
		{"unreadable", func(t *testing.T, _ *Source, store *countingStore) {
			corrupt := fmt.Errorf("decode token: %w", ErrTokenCorrupt)
			store.loadErr.Store(&corrupt)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			initial := newToken(clock, time.Minute)
			store := newCountingStore(initial)
			r := rotating(t, clock, time.Hour) // fails the test if a spent refresh token is sent
			other := NewSource(r, WithToken(initial), WithStore(store), WithLocker(nopLocker{}), WithClock(clock.Now))
			src := NewSource(r, WithToken(initial), WithStore(store), WithLocker(nopLocker{}), WithClock(clock.Now))
			clock.Advance(2 * time.Minute)
			tc.empty(t, other, store)
			calls, saves := r.calls.Load(), store.saves.Load()

			_, err := src.TokenContext(context.Background())
			require.ErrorIs(t, err, ErrReauthRequired)
			assert.Equal(t, calls, r.calls.Load(), "refreshed its own copy of an ended session")
			assert.Equal(t, saves, store.saves.Load(), "saved an ended session back into the store")
		})
	}
}

// A token handed in by the application (WithToken, SetToken) keeps its
// expiry even if it still carries the expires_in of the answer it came in,
// as a token saved with encoding/json does: counting expires_in from now
// would serve an expired token as fresh.
func TestGivenTokenKeepsItsExpiry(t *testing.T) {
	clock := newFakeClock()
	ctx := context.Background()
	saved := newToken(clock, time.Hour)
	saved.ExpiresIn = 3600
	clock.Advance(2 * time.Hour)
	r := rotating(t, clock, time.Hour)
	src := NewSource(r, WithToken(saved), WithClock(clock.Now))

	tok, err := src.TokenContext(ctx)
	require.NoError(t, err)
	assert.NotEqual(t, saved.AccessToken, tok.AccessToken, "an expired token was served as fresh")
	assert.EqualValues(t, 1, r.calls.Load())

	login := newToken(clock, 10*time.Minute)
	login.ExpiresIn = 3600
	require.NoError(t, src.SetToken(ctx, login))
	tok, err = src.TokenContext(ctx)
	require.NoError(t, err)
	assert.Equal(t, login.Expiry, tok.Expiry, "SetToken moved the expiry")

	// Without an expiry, expires_in counts from now on the Source's clock.
	noExpiry := &oauth2.Token{AccessToken: secret("at"), RefreshToken: secret("rt"), ExpiresIn: 600}
	require.NoError(t, src.SetToken(ctx, noExpiry))
	tok, err = src.TokenContext(ctx)
	require.NoError(t, err)
	assert.Equal(t, clock.Now().Add(10*time.Minute), tok.Expiry)
}

// A session may start from a refresh token alone: the first use refreshes
// it rather than serving a token without an access token.
func TestRefreshTokenOnlyIsRefreshedOnFirstUse(t *testing.T) {
	clock := newFakeClock()
	rt := secret("rt")
	next := newToken(clock, time.Hour)
	var sent string
	r := &countingRefresher{fn: func(ctx context.Context, cur *oauth2.Token) (*oauth2.Token, error) {
		sent = cur.RefreshToken
		return next, nil
	}}
	src := NewSource(r, WithToken(&oauth2.Token{RefreshToken: rt}), WithClock(clock.Now))

	tok, err := src.TokenContext(context.Background())
	require.NoError(t, err)
	assert.Equal(t, next.AccessToken, tok.AccessToken, "served a token without an access token")
	assert.EqualValues(t, 1, r.calls.Load())
	assert.Equal(t, rt, sent)
}

// ctxStore is a MemoryStore whose Save, like a networked store's, fails once
// its context has ended.
type ctxStore struct {
	*MemoryStore
	saveDeadline atomic.Bool // the last Save's context had a deadline
}

func (s *ctxStore) Save(ctx context.Context, tok *oauth2.Token) error {
	_, ok := ctx.Deadline()
	s.saveDeadline.Store(ok)
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.MemoryStore.Save(ctx, tok)
}

// The token endpoint rotates the refresh token and answers just as the
// refresh times out. Saving the answer gets a budget of its own: had it
// shared the spent one, the only copy of the new refresh token would be in
// memory.
func TestSaveAfterASlowRefreshHasItsOwnBudget(t *testing.T) {
	clock := newFakeClock()
	initial := newToken(clock, time.Minute)
	next := newToken(clock, time.Hour)
	r := &countingRefresher{fn: func(ctx context.Context, cur *oauth2.Token) (*oauth2.Token, error) {
		<-ctx.Done() // the refresh's deadline: the answer arrives as it passes
		return next, nil
	}}
	store := &ctxStore{MemoryStore: NewMemoryStore(initial)}
	src := NewSource(r, WithToken(initial), WithStore(store), WithClock(clock.Now), WithRefreshTimeout(10*time.Millisecond))
	ctx := context.Background()

	tok, err := src.Refresh(ctx)
	require.NoError(t, err, "the rotated token was not saved")
	assert.Equal(t, next.AccessToken, tok.AccessToken)
	stored, err := store.Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, next.RefreshToken, stored.RefreshToken)
	assert.True(t, store.saveDeadline.Load(), "the save is not bounded")
}

// A refresh of the old session fails after SetToken started a new one: the
// failure is not the new session's, so it neither backs it off nor reaches
// the old session's caller, who gets the new token.
func TestOldSessionFailureDoesNotBackOffTheNewOne(t *testing.T) {
	clock := newFakeClock()
	old := newToken(clock, time.Minute)
	next := newToken(clock, 2*time.Hour)
	entered, release := make(chan struct{}), make(chan struct{})
	r := &countingRefresher{fn: func(ctx context.Context, cur *oauth2.Token) (*oauth2.Token, error) {
		if cur.RefreshToken == old.RefreshToken {
			close(entered)
			<-release
			return nil, transient(503, "", time.Hour, errors.New("service unavailable"))
		}
		return next, nil
	}}
	src := NewSource(r, WithToken(old), WithClock(clock.Now))
	ctx := context.Background()
	clock.Advance(time.Minute)

	type result struct {
		tok *oauth2.Token
		err error
	}
	oldCaller := make(chan result, 1)
	go func() { tok, err := src.TokenContext(ctx); oldCaller <- result{tok, err} }()
	<-entered
	login := newToken(clock, time.Hour)
	require.NoError(t, src.SetToken(ctx, login))
	close(release)

	res := <-oldCaller
	if assert.NoError(t, res.err, "the old session's failure reached its caller") {
		assert.Equal(t, login.AccessToken, res.tok.AccessToken)
	}

	tok, err := src.Refresh(ctx)
	require.NoError(t, err, "the new session is backing off for the old one's failure")
	assert.Equal(t, next.AccessToken, tok.AccessToken)
	assert.EqualValues(t, 2, r.calls.Load())
}

// OnReauth runs once the refresh that ended the session has released the
// Locker and stopped counting for Wait, so it may log in again. Run with the
// lock held, its SetToken would wait for a lock its own goroutine holds, as
// would Wait for the refresh it is part of.
func TestOnReauthMayLogInAgainOnceTheLockerIsReleased(t *testing.T) {
	clock := newFakeClock()
	initial := newToken(clock, time.Minute)
	store := NewMemoryStore(initial)
	locker := &recordingLocker{}
	r := &countingRefresher{fn: func(ctx context.Context, cur *oauth2.Token) (*oauth2.Token, error) {
		return nil, permanent(400, "invalid_grant", nil)
	}}
	login := newToken(clock, time.Hour)
	relogin := make(chan error, 1)
	var src *Source
	src = NewSource(r, WithToken(initial), WithStore(store), WithLocker(locker), WithClock(clock.Now),
		OnReauth(func(error) {
			assert.Equal(t, locker.locks.Load(), locker.unlocks.Load(), "OnReauth ran with the Locker held")
			// Wait with an ended context returns nil only if no refresh is counted.
			ended, cancel := context.WithCancel(context.Background())
			cancel()
			assert.NoError(t, src.Wait(ended), "OnReauth ran while its refresh still counted for Wait")
			relogin <- src.SetToken(context.Background(), login)
		}))
	ctx := context.Background()
	clock.Advance(time.Minute)

	_, err := src.TokenContext(ctx)
	require.ErrorIs(t, err, ErrReauthRequired)
	require.Len(t, relogin, 1, "OnReauth was not called before the refresh's callers returned")
	require.NoError(t, <-relogin)
	tok, err := src.TokenContext(ctx)
	require.NoError(t, err)
	assert.Equal(t, login.AccessToken, tok.AccessToken, "the new login was lost")
	stored, err := store.Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, login.RefreshToken, stored.RefreshToken)
	assert.Equal(t, locker.locks.Load(), locker.unlocks.Load())
}

func TestWithBackoffKeepsTheMaximumAboveTheMinimum(t *testing.T) {
	for _, tc := range []struct {
		lo, hi, wantLo, wantHi time.Duration
	}{
		{time.Second, time.Minute, time.Second, time.Minute},
		{10 * time.Minute, 0, 10 * time.Minute, 10 * time.Minute}, // the default maximum is below the new minimum
		{time.Minute, time.Second, time.Minute, time.Minute},
		{0, 0, time.Second, 5 * time.Minute},
	} {
		src := NewSource(RefresherFunc(nil), WithBackoff(tc.lo, tc.hi))
		assert.Equal(t, tc.wantLo, src.cfg.minBackoff, "WithBackoff(%v, %v) minimum", tc.lo, tc.hi)
		assert.Equal(t, tc.wantHi, src.cfg.maxBackoff, "WithBackoff(%v, %v) maximum", tc.lo, tc.hi)
	}
}
