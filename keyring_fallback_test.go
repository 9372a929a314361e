package tokenrefresh

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/zalando/go-keyring"

	"github.com/tokenrefresh/tokenrefresh/internal/fakekeyring"
	"github.com/tokenrefresh/tokenrefresh/internal/testlog"
)

func unavailable(k *fakekeyring.Keyring) (restore func()) {
	r1 := k.Fail(fakekeyring.Get, "", keyring.ErrUnsupportedPlatform)
	r2 := k.Fail(fakekeyring.Set, "", keyring.ErrUnsupportedPlatform)
	r3 := k.Fail(fakekeyring.Delete, "", keyring.ErrUnsupportedPlatform)
	return func() { r1(); r2(); r3() }
}

func TestFallbackToFileWhenKeyringUnavailable(t *testing.T) {
	k := fakekeyring.New()
	restore := unavailable(k)
	path := filepath.Join(t.TempDir(), "tokens", "token.json")
	var logs testlog.Buffer
	s := newFakeStore(k, WithFileFallback(path), WithKeyringLogger(logs.Logger(slog.LevelInfo)))
	tok := persistTestToken(t, 16<<10)
	assert.False(t, s.UsingFile(), "undecided before the first operation")

	// Several goroutines meet the unavailable keyring at once.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			_, err := s.Load(t.Context())
			assert.ErrorIs(t, err, ErrNoToken, "an empty file store, not the keyring error")
			assert.True(t, s.UsingFile(), "after an operation served by the file")
		})
	}
	wg.Wait()
	require.NoError(t, s.Save(t.Context(), tok))
	got, err := s.Load(t.Context())
	require.NoError(t, err)
	requireSameToken(t, tok, got, "id_token", "scope")

	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	assert.Equal(t, 1, strings.Count(logs.String(), "level=WARN"), "exactly one warning: %s", logs.String())
	assert.Contains(t, logs.String(), path)
	requireNoTokenIn(t, logs.String(), tok)

	// The choice is sticky: a keyring that comes back is not used.
	restore()
	calls := k.Calls(fakekeyring.Get) + k.Calls(fakekeyring.Set)
	got, err = s.Load(t.Context())
	require.NoError(t, err)
	requireSameToken(t, tok, got)
	require.NoError(t, s.Delete(t.Context()))
	assert.Equal(t, calls, k.Calls(fakekeyring.Get)+k.Calls(fakekeyring.Set))
	assert.NoFileExists(t, path)
	assert.Equal(t, 1, strings.Count(logs.String(), "level=WARN"))
	assert.True(t, s.UsingFile())
}

func TestNoFallbackWhenKeyringTimesOut(t *testing.T) {
	k := fakekeyring.New()
	path := filepath.Join(t.TempDir(), "token.json")
	var logs testlog.Buffer
	s := newFakeStore(k, WithFileFallback(path), WithKeyringLogger(logs.Logger(slog.LevelInfo)),
		WithKeyringTimeout(50*time.Millisecond))
	gate := k.Block(fakekeyring.Set, "")
	defer gate.Release()

	err := s.Save(t.Context(), persistTestToken(t, 100))
	require.ErrorIs(t, err, ErrKeyringTimeout)
	assert.NoFileExists(t, path)
	assert.Empty(t, logs.String())
	assert.False(t, s.UsingFile())

	gate.Release()
	require.Eventually(t, func() bool { return s.Save(t.Context(), persistTestToken(t, 100)) == nil },
		5*time.Second, 5*time.Millisecond)
	assert.NoFileExists(t, path, "the keyring, not the file, got the token")
	assert.False(t, s.UsingFile())
}

func TestNoFallbackOnceKeyringChosen(t *testing.T) {
	k := fakekeyring.New()
	path := filepath.Join(t.TempDir(), "token.json")
	var logs testlog.Buffer
	s := newFakeStore(k, WithFileFallback(path), WithKeyringLogger(logs.Logger(slog.LevelInfo)))
	tok := persistTestToken(t, 100)
	require.NoError(t, s.Save(t.Context(), tok))

	unavailable(k)
	_, err := s.Load(t.Context())
	require.ErrorIs(t, err, ErrKeyringUnavailable, "a keyring that vanishes is reported, not replaced")
	err = s.Save(t.Context(), tok)
	require.ErrorIs(t, err, ErrKeyringUnavailable)
	assert.NoFileExists(t, path)
	assert.Empty(t, logs.String())
	assert.False(t, s.UsingFile())
}

// An operation that gets no verdict from the keyring decides nothing: the
// next one that does decides.
func TestUsingFileUndecidedUntilVerdict(t *testing.T) {
	k := fakekeyring.New()
	unavailable(k)
	path := filepath.Join(t.TempDir(), "token.json")
	s := newFakeStore(k, WithFileFallback(path), WithKeyringLogger(slog.New(slog.DiscardHandler)))
	ctx, cancel := contextCanceled(t)
	defer cancel()
	_, err := s.Load(ctx)
	require.ErrorIs(t, err, context.Canceled)
	assert.False(t, s.UsingFile())

	_, err = s.Load(t.Context())
	require.ErrorIs(t, err, ErrNoToken)
	assert.True(t, s.UsingFile())
}

func TestUsingFileWithoutFallback(t *testing.T) {
	k := fakekeyring.New()
	unavailable(k)
	s := newFakeStore(k)
	_, err := s.Load(t.Context())
	require.ErrorIs(t, err, ErrKeyringUnavailable)
	assert.False(t, s.UsingFile())
}
