//go:build (dragonfly && cgo) || (freebsd && cgo) || linux || netbsd || openbsd

package tokenrefresh

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"

	dbus "github.com/godbus/dbus/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenrefresh/tokenrefresh/internal/fakekeyring"
)

// The errors below are the ones go-keyring v0.2.8 returns on Linux, as
// observed with a dead bus socket, a bus without a Secret Service, no bus
// address (dbus-launch then starts a bus), and a locked collection.
func TestKeyringStoreMapsSecretServiceErrors(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"dead bus socket", &net.OpError{Op: "dial", Net: "unix", Err: os.ErrNotExist}, ErrKeyringUnavailable},
		{"no bus address", errors.New("dbus: couldn't determine address of session bus"), ErrKeyringUnavailable},
		{"no secret service", dbus.Error{Name: "org.freedesktop.DBus.Error.ServiceUnknown"}, ErrKeyringUnavailable},
		{"secret service failed to start", &dbus.Error{Name: "org.freedesktop.DBus.Error.Spawn.ChildExited"}, ErrKeyringUnavailable},
		{"bus closed", fmt.Errorf("call: %w", dbus.ErrClosed), ErrKeyringUnavailable},
		{"locked, no prompter", errors.New("failed to unlock correct collection '/org/freedesktop/secrets/collection/login'"), ErrKeyringTimeout},
		{"locked item", dbus.Error{Name: "org.freedesktop.Secret.Error.IsLocked"}, ErrKeyringTimeout},
		{"no reply", dbus.Error{Name: "org.freedesktop.DBus.Error.NoReply"}, ErrKeyringTimeout},
		{"access denied", dbus.Error{Name: "org.freedesktop.DBus.Error.AccessDenied"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k := fakekeyring.New()
			k.Fail(fakekeyring.Get, "", c.err)
			_, err := newFakeStore(k).Load(t.Context())
			require.Error(t, err)
			for _, sentinel := range []error{ErrKeyringUnavailable, ErrKeyringTimeout} {
				assert.Equal(t, sentinel == c.want, errors.Is(err, sentinel), "errors.Is(%v, %v)", err, sentinel)
			}
			// dbus.Error holds a slice, so errors.Is cannot compare it;
			// errors.As still finds it.
			assert.Equal(t, dbusErrorName(c.err), dbusErrorName(err))
			assert.Contains(t, err.Error(), c.err.Error())
		})
	}
}

func TestSessionBusMissing(t *testing.T) {
	emptyDir := t.TempDir()
	withBus := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(withBus, "bus"), nil, 0o600)) // godbus only checks that it exists
	withSessionFile := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(withSessionFile, "dbus-session"),
		[]byte("DBUS_SESSION_BUS_ADDRESS=unix:abstract=/tmp/dbus-E1c73yNqrG\n"), 0o600))
	withBadSessionFile := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(withBadSessionFile, "dbus-session"), []byte("unix:abstract=/tmp/x\n"), 0o600))
	withEmptySessionFile := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(withEmptySessionFile, "dbus-session"), []byte("DBUS_SESSION_BUS_ADDRESS=\n"), 0o600))

	for _, c := range []struct {
		name, addr, runDir string
		missing            bool
		why                string
	}{
		{name: "address set", addr: "unix:path=/nonexistent", runDir: emptyDir},
		{name: "unusable address set", addr: "disabled:", runDir: ""},
		{name: "bus socket in the runtime directory", runDir: withBus},
		{name: "address file in the runtime directory", runDir: withSessionFile},
		{name: "address autolaunch, bus socket", addr: "autolaunch:", runDir: withBus},
		{name: "nothing", runDir: emptyDir, missing: true,
			why: "DBUS_SESSION_BUS_ADDRESS is unset and there is no " + filepath.Join(emptyDir, "bus") + ";"},
		{name: "address autolaunch, nothing", addr: "autolaunch:", runDir: emptyDir, missing: true,
			why: "DBUS_SESSION_BUS_ADDRESS is autolaunch: and there is no "},
		{name: "address file without an address", runDir: withBadSessionFile, missing: true},
		{name: "address file with an empty address", runDir: withEmptySessionFile, missing: true},
		{name: "no runtime directory", runDir: "", missing: true, why: "(DBUS_SESSION_BUS_ADDRESS is unset; "},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := sessionBusMissing(c.addr, c.runDir, "")
			if !c.missing {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrKeyringUnavailable)
			assert.Contains(t, err.Error(), "no D-Bus session bus")
			assert.Contains(t, err.Error(), "not starting one with dbus-launch")
			assert.Contains(t, err.Error(), "set DBUS_SESSION_BUS_ADDRESS or use a file store")
			assert.Contains(t, err.Error(), c.why)
		})
	}

	t.Run("bus socket in XDG_RUNTIME_DIR only", func(t *testing.T) {
		// godbus does not look there, but the message points at it.
		xdg, err := os.MkdirTemp("", "trbus") // short: socket paths are limited
		require.NoError(t, err)
		t.Cleanup(func() { os.RemoveAll(xdg) })
		l, err := net.Listen("unix", filepath.Join(xdg, "bus"))
		require.NoError(t, err)
		t.Cleanup(func() { l.Close() })
		err = sessionBusMissing("", emptyDir, xdg)
		require.ErrorIs(t, err, ErrKeyringUnavailable)
		assert.Contains(t, err.Error(), "set DBUS_SESSION_BUS_ADDRESS=unix:path="+dbus.EscapeBusAddressValue(filepath.Join(xdg, "bus"))+" or use a file store")
		// A regular file there is no bus.
		err = sessionBusMissing("", emptyDir, withBus)
		assert.Contains(t, err.Error(), "set DBUS_SESSION_BUS_ADDRESS or use a file store")
	})
}

// The store reports a missing session bus with the sentinel that makes
// WithFileFallback fall back.
func TestKeyringStoreNoSessionBusFallsBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token.json")
	s := NewKeyringStore("tokenrefresh-test", "alice", WithKeyring(unreachableKeyring{}),
		WithFileFallback(path), WithKeyringLogger(slog.New(slog.DiscardHandler)))
	_, err := s.Load(t.Context())
	require.ErrorIs(t, err, ErrNoToken)
	assert.True(t, s.UsingFile())
}

// unreachableKeyring fails every call as systemKeyring does without a bus.
type unreachableKeyring struct{}

func (unreachableKeyring) Get(string, string) (string, error) {
	return "", sessionBusMissing("", "", "")
}
func (unreachableKeyring) Set(string, string, string) error { return sessionBusMissing("", "", "") }
func (unreachableKeyring) Delete(string, string) error      { return sessionBusMissing("", "", "") }
