package fakekeyring

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/zalando/go-keyring"
)

func TestKeyringStoresAndCounts(t *testing.T) {
	k := New()
	_, err := k.Get("s", "u")
	require.ErrorIs(t, err, keyring.ErrNotFound)
	require.ErrorIs(t, k.Delete("s", "u"), keyring.ErrNotFound)
	require.NoError(t, k.Set("s", "u", "v"))
	require.NoError(t, k.Set("s", "a", "w"))
	v, err := k.Get("s", "u")
	require.NoError(t, err)
	assert.Equal(t, "v", v)
	assert.Equal(t, []Item{{"s", "a", "w"}, {"s", "u", "v"}}, k.Items())
	require.NoError(t, k.Delete("s", "u"))
	assert.Equal(t, 2, k.Calls(Get))
	assert.Equal(t, 2, k.Calls(Set))
	assert.Equal(t, 2, k.Calls(Delete))
}

func TestKeyringLimits(t *testing.T) {
	win := New(WithLimit(Windows))
	require.NoError(t, win.Set("s", "u", strings.Repeat("x", 2560)))
	require.ErrorIs(t, win.Set("s", "u", strings.Repeat("x", 2561)), keyring.ErrSetDataTooBig)
	require.ErrorIs(t, win.Set(strings.Repeat("s", 512), "u", "x"), keyring.ErrSetDataTooBig)

	mac := New(WithLimit(MacOS))
	require.NoError(t, mac.Set("s", "u", strings.Repeat("x", 2900)))
	require.ErrorIs(t, mac.Set("s", "u", strings.Repeat("x", 2999)), keyring.ErrSetDataTooBig, "over 3,000 bytes in all")
	assert.Empty(t, New().Items())
	require.NoError(t, New().Set("s", "u", strings.Repeat("x", 1<<20)), "Unlimited")
}

func TestKeyringFailAndBlock(t *testing.T) {
	k := New()
	injected := errors.New("injected")
	restore := k.Fail(Set, "u", injected)
	require.ErrorIs(t, k.Set("s", "u", "v"), injected)
	require.NoError(t, k.Set("s", "other", "v"), "only the named user fails")
	restore()
	require.NoError(t, k.Set("s", "u", "v"))

	gate := k.Block(Get, "")
	var wg sync.WaitGroup
	wg.Go(func() {
		v, err := k.Get("s", "u")
		assert.NoError(t, err)
		assert.Equal(t, "v", v)
	})
	<-gate.Entered()
	require.NoError(t, k.Set("s", "u2", "w"), "other operations are not blocked")
	gate.Release()
	gate.Release()
	wg.Wait()
	_, err := k.Get("s", "u2")
	require.NoError(t, err, "a released gate lets later calls through")
}
