//go:build (dragonfly && cgo) || (freebsd && cgo) || linux || netbsd || openbsd

package tokenrefresh

import (
	"errors"
	"fmt"
	"net"
	"os"
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
