package tokenrefresh

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/zalando/go-keyring"
	"go.uber.org/goleak"
	"golang.org/x/oauth2"

	"github.com/tokenrefresh/tokenrefresh/internal/fakekeyring"
)

func TestKeyringStoreSmallTokenIsOneItem(t *testing.T) {
	k := fakekeyring.New()
	s := newFakeStore(k)
	tok := persistTestToken(t, 200)

	require.NoError(t, s.Save(t.Context(), tok))
	got, err := s.Load(t.Context())
	require.NoError(t, err)

	requireSameToken(t, tok, got, "id_token", "scope")
	assert.Nil(t, got.Extra("ignored"), "only the configured extra fields are persisted")
	items := k.Items()
	require.Len(t, items, 1)
	assert.Equal(t, testAccount, items[0].User)
	requireNoTokenIn(t, items[0].Secret, tok) // compressed, not plain text
}

func TestKeyringStoreEmpty(t *testing.T) {
	s := newFakeStore(fakekeyring.New())

	_, err := s.Load(t.Context())
	require.ErrorIs(t, err, ErrNoToken)
	assert.Contains(t, err.Error(), testService)
	assert.Contains(t, err.Error(), testAccount)
	require.NoError(t, s.Delete(t.Context()), "deleting an empty store is not an error")
}

func TestKeyringStoreChunksFitPlatformLimits(t *testing.T) {
	for _, limit := range []fakekeyring.Limit{fakekeyring.Windows, fakekeyring.MacOS, fakekeyring.Unlimited} {
		t.Run(limit.String(), func(t *testing.T) {
			k := fakekeyring.New(fakekeyring.WithLimit(limit))
			s := newFakeStore(k)
			first, second := persistTestToken(t, 16<<10), persistTestToken(t, 16<<10)

			require.NoError(t, s.Save(t.Context(), first))
			firstItems := k.Items()
			require.Greater(t, len(firstItems), 2, "a 16 KB token needs chunks")
			for _, it := range firstItems {
				assert.Less(t, len(it.Service)+len(it.User)+len(it.Secret), 2560, "item %q", it.User)
			}
			got, err := s.Load(t.Context())
			require.NoError(t, err)
			requireSameToken(t, first, got, "id_token", "scope")

			require.NoError(t, s.Save(t.Context(), second))
			got, err = s.Load(t.Context())
			require.NoError(t, err)
			requireSameToken(t, second, got, "id_token", "scope")

			// The first generation's chunks are gone; only the manifest and
			// one generation remain.
			gens := map[string]bool{}
			for _, it := range k.Items() {
				if rest, ok := strings.CutPrefix(it.User, testAccount+"#"); ok {
					gen, _, _ := strings.Cut(rest, ".")
					gens[gen] = true
				}
				for _, old := range firstItems {
					if old.User != testAccount {
						assert.NotEqual(t, old.User, it.User, "old chunk left behind")
					}
				}
			}
			assert.Len(t, gens, 1)
		})
	}
}

func TestKeyringStoreFailedManifestWriteKeepsPreviousToken(t *testing.T) {
	k := fakekeyring.New(fakekeyring.WithLimit(fakekeyring.Windows))
	s := newFakeStore(k)
	old, next := persistTestToken(t, 16<<10), persistTestToken(t, 16<<10)
	require.NoError(t, s.Save(t.Context(), old))
	before := k.Items()

	injected := errors.New("injected: disk full")
	restore := k.Fail(fakekeyring.Set, testAccount, injected)
	err := s.Save(t.Context(), next)
	restore()

	require.ErrorIs(t, err, injected)
	requireNoTokenIn(t, err.Error(), old, next)
	got, err := s.Load(t.Context())
	require.NoError(t, err)
	requireSameToken(t, old, got, "id_token", "scope")
	assert.Equal(t, before, k.Items(), "the new generation's chunks are discarded, the old ones kept")
	assert.Greater(t, k.Calls(fakekeyring.Set), len(before), "the new chunks were written before the manifest failed")
}

func TestKeyringStoreFailedChunkWriteKeepsPreviousToken(t *testing.T) {
	k := fakekeyring.New()
	s := newFakeStore(k)
	old := persistTestToken(t, 16<<10)
	require.NoError(t, s.Save(t.Context(), old))
	before := k.Items()

	injected := errors.New("injected")
	restore := k.Fail(fakekeyring.Set, "", injected)
	err := s.Save(t.Context(), persistTestToken(t, 16<<10))
	restore()

	require.ErrorIs(t, err, injected)
	got, err := s.Load(t.Context())
	require.NoError(t, err)
	requireSameToken(t, old, got)
	assert.Equal(t, before, k.Items())
}

func TestKeyringStoreHungBackendTimesOutWithoutPileUp(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	const timeout = 200 * time.Millisecond
	k := fakekeyring.New()
	s := newFakeStore(k, WithKeyringTimeout(timeout))
	gate := k.Block(fakekeyring.Get, "")
	defer gate.Release()

	_, err := s.Load(t.Context())
	require.ErrorIs(t, err, ErrKeyringTimeout)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "no answer within")
	assert.Contains(t, err.Error(), testAccount)

	// While the first call hangs, every operation fails at once, without
	// waiting out its own timeout or starting another backend call.
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Go(func() {
			var err error
			if i%2 == 0 {
				_, err = s.Load(t.Context())
			} else {
				err = s.Save(t.Context(), persistTestToken(t, 100))
			}
			assert.ErrorIs(t, err, ErrKeyringTimeout)
			assert.ErrorContains(t, err, "still running after its timeout", "a call behind a hung call waited")
		})
	}
	wg.Wait()
	assert.Equal(t, 1, k.Calls(fakekeyring.Get), "no backend call started behind the hung one")
	assert.Equal(t, 0, k.Calls(fakekeyring.Set))

	gate.Release()
	require.Eventually(t, func() bool {
		_, err := s.Load(t.Context())
		return errors.Is(err, ErrNoToken)
	}, 5*time.Second, 5*time.Millisecond, "the store recovers once the hung call returns")
}

func TestKeyringStoreCallerContextIsNotAKeyringTimeout(t *testing.T) {
	k := fakekeyring.New()
	s := newFakeStore(k, WithKeyringTimeout(time.Minute))

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.Load(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, ErrKeyringTimeout)

	gate := k.Block(fakekeyring.Get, "")
	defer gate.Release()
	ctx, cancel = context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err = s.Load(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NotErrorIs(t, err, ErrKeyringTimeout, "the caller's deadline is not the keyring's fault")
	gate.Release()
}

func TestKeyringStoreErrorMapping(t *testing.T) {
	cases := []struct {
		name string
		op   fakekeyring.Op
		err  error
		want error
	}{
		{"unsupported platform", fakekeyring.Get, keyring.ErrUnsupportedPlatform, ErrKeyringUnavailable},
		{"no dbus-launch or security binary", fakekeyring.Get, &exec.Error{Name: "dbus-launch", Err: exec.ErrNotFound}, ErrKeyringUnavailable},
		{"item too big", fakekeyring.Set, keyring.ErrSetDataTooBig, ErrTokenTooLarge},
		{"backend deadline", fakekeyring.Get, fmt.Errorf("wrapped: %w", context.DeadlineExceeded), ErrKeyringTimeout},
		{"other", fakekeyring.Get, errors.New("injected: something else"), nil},
	}
	sentinels := []error{ErrKeyringUnavailable, ErrKeyringTimeout, ErrTokenTooLarge, ErrNoToken, ErrTokenCorrupt}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k := fakekeyring.New()
			s := newFakeStore(k)
			k.Fail(c.op, "", c.err)
			tok := persistTestToken(t, 100)

			var err error
			if c.op == fakekeyring.Set {
				err = s.Save(t.Context(), tok)
			} else {
				_, err = s.Load(t.Context())
			}

			require.ErrorIs(t, err, c.err, "the cause stays inspectable")
			for _, sentinel := range sentinels {
				assert.Equal(t, sentinel == c.want, errors.Is(err, sentinel), "errors.Is(err, %v)", sentinel)
			}
			assert.Contains(t, err.Error(), testService)
			assert.Contains(t, err.Error(), testAccount)
			requireNoTokenIn(t, err.Error(), tok)
		})
	}
}

func TestKeyringStoreTokenTooLarge(t *testing.T) {
	t.Run("huge token", func(t *testing.T) {
		k := fakekeyring.New()
		s := newFakeStore(k)
		tok := persistTestToken(t, 300<<10)
		err := s.Save(t.Context(), tok)
		require.ErrorIs(t, err, ErrTokenTooLarge)
		assert.Regexp(t, `compressed token is \d+ bytes, over the \d+-byte limit`, err.Error())
		requireNoTokenIn(t, err.Error(), tok)
		assert.Empty(t, k.Items())
		assert.Zero(t, k.Calls(fakekeyring.Set), "nothing is written when the layout cannot fit")
	})
	t.Run("names leave no room", func(t *testing.T) {
		k := fakekeyring.New()
		s := NewKeyringStore(testService, strings.Repeat("a", 2300), WithKeyring(k))
		err := s.Save(t.Context(), persistTestToken(t, 16<<10))
		require.ErrorIs(t, err, ErrTokenTooLarge)
		assert.Contains(t, err.Error(), "service and account names take")
		assert.Empty(t, k.Items())
	})
}

func TestKeyringStoreDeleteRemovesEveryItem(t *testing.T) {
	k := fakekeyring.New()
	s := newFakeStore(k)
	other := NewKeyringStore(testService, "bob@example.com", WithKeyring(k))
	bobs := persistTestToken(t, 16<<10)
	require.NoError(t, other.Save(t.Context(), bobs))
	bobItems := k.Items()
	require.NoError(t, s.Save(t.Context(), persistTestToken(t, 16<<10)))

	require.NoError(t, s.Delete(t.Context()))

	assert.Equal(t, bobItems, k.Items(), "only this account's items are removed")
	_, err := s.Load(t.Context())
	require.ErrorIs(t, err, ErrNoToken)
	require.NoError(t, s.Delete(t.Context()))
	got, err := other.Load(t.Context())
	require.NoError(t, err)
	requireSameToken(t, bobs, got)
}

func TestKeyringStoreDetectsDamage(t *testing.T) {
	tok := persistTestToken(t, 16<<10)
	damage := map[string]func(k *fakekeyring.Keyring, chunk fakekeyring.Item){
		"altered chunk": func(k *fakekeyring.Keyring, chunk fakekeyring.Item) {
			b := []byte(chunk.Secret)
			b[10] ^= 1
			require.NoError(t, k.Set(chunk.Service, chunk.User, string(b)))
		},
		"truncated chunk": func(k *fakekeyring.Keyring, chunk fakekeyring.Item) {
			require.NoError(t, k.Set(chunk.Service, chunk.User, chunk.Secret[:100]))
		},
		"missing chunk": func(k *fakekeyring.Keyring, chunk fakekeyring.Item) {
			require.NoError(t, k.Delete(chunk.Service, chunk.User))
		},
		"garbage manifest": func(k *fakekeyring.Keyring, _ fakekeyring.Item) {
			require.NoError(t, k.Set(testService, testAccount, "not a manifest"))
		},
	}
	for name, fn := range damage {
		t.Run(name, func(t *testing.T) {
			k := fakekeyring.New()
			s := newFakeStore(k)
			require.NoError(t, s.Save(t.Context(), tok))
			items := k.Items()
			chunk := items[len(items)-1] // the manifest sorts first
			require.NotEqual(t, testAccount, chunk.User)
			fn(k, chunk)

			_, err := s.Load(t.Context())
			require.ErrorIs(t, err, ErrTokenCorrupt)
			require.NotErrorIs(t, err, ErrNoToken)
			requireNoTokenIn(t, err.Error(), tok)

			// A new token can always be saved over a damaged one.
			require.NoError(t, s.Save(t.Context(), tok))
			got, err := s.Load(t.Context())
			require.NoError(t, err)
			requireSameToken(t, tok, got)
		})
	}
}

func TestKeyringStoreConcurrentUse(t *testing.T) {
	k := fakekeyring.New(fakekeyring.WithLimit(fakekeyring.Windows))
	s := newFakeStore(k)
	var mu sync.Mutex
	saved := map[string]bool{}
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			for range 4 {
				tok := persistTestToken(t, 8<<10)
				mu.Lock()
				saved[tok.AccessToken] = true
				mu.Unlock()
				assert.NoError(t, s.Save(t.Context(), tok))
				got, err := s.Load(t.Context())
				if assert.NoError(t, err) {
					mu.Lock()
					assert.True(t, saved[got.AccessToken], "Load returned a token nobody saved")
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()

	m, err := decodeManifest(findItem(t, k, testAccount))
	require.NoError(t, err)
	assert.Len(t, k.Items(), m.Chunks+1, "no chunks of other generations are left behind")
}

func TestKeyringStoreExtraFields(t *testing.T) {
	k := fakekeyring.New()
	s := newFakeStore(k, WithExtraFields("tenant", "expires_at"))
	tok := (&oauth2.Token{AccessToken: "at"}).WithExtra(map[string]any{
		"tenant": "acme", "expires_at": float64(1700000000), "id_token": "dropped",
	})
	require.NoError(t, s.Save(t.Context(), tok))
	got, err := s.Load(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "acme", got.Extra("tenant"))
	assert.Equal(t, float64(1700000000), got.Extra("expires_at"))
	assert.Nil(t, got.Extra("id_token"))
}

func findItem(t *testing.T, k *fakekeyring.Keyring, user string) string {
	t.Helper()
	for _, it := range k.Items() {
		if it.User == user {
			return it.Secret
		}
	}
	t.Fatalf("no keyring item %q", user)
	return ""
}
