//go:build (dragonfly && cgo) || (freebsd && cgo) || linux || netbsd || openbsd

package tokenrefresh

import (
	"errors"
	"io"
	"net"
	"os/exec"
	"strings"

	dbus "github.com/godbus/dbus/v5"
)

// This build constraint matches go-keyring's keyring_unix.go: these are the
// platforms where it talks to the Secret Service over the D-Bus session bus.

// platformUnavailable recognises the ways go-keyring fails when there is no
// session bus or no Secret Service on it: godbus cannot find or dial the bus
// (or dbus-launch cannot start one), or the bus has no org.freedesktop.secrets.
func platformUnavailable(err error) bool {
	switch dbusErrorName(err) {
	case "org.freedesktop.DBus.Error.ServiceUnknown",
		"org.freedesktop.DBus.Error.NameHasNoOwner",
		"org.freedesktop.DBus.Error.NoServer",
		"org.freedesktop.DBus.Error.Disconnected",
		"org.freedesktop.DBus.Error.UnknownMethod",
		"org.freedesktop.DBus.Error.UnknownObject":
		return true
	}
	if strings.HasPrefix(dbusErrorName(err), "org.freedesktop.DBus.Error.Spawn.") {
		return true
	}
	var opErr *net.OpError
	var execErr *exec.Error
	var exitErr *exec.ExitError
	if errors.As(err, &opErr) || errors.As(err, &execErr) || errors.As(err, &exitErr) ||
		errors.Is(err, dbus.ErrClosed) || errors.Is(err, io.EOF) {
		return true
	}
	// godbus reports a missing or malformed bus address and failed
	// authentication with plain errors.New values.
	msg := err.Error()
	for _, s := range []string{
		"dbus: couldn't determine address of session bus",
		"dbus: authentication failed",
		"dbus: authentication protocol error",
		"dbus: invalid bus address",
		"dbus: invalid address",
		"dbus: unsupported address",
	} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// platformLocked recognises a locked collection that could not be unlocked
// without a user (go-keyring's Unlock fails when the prompt is dismissed or
// no prompter can be shown) and a Secret Service that did not reply.
func platformLocked(err error) bool {
	switch dbusErrorName(err) {
	case "org.freedesktop.Secret.Error.IsLocked", "org.freedesktop.DBus.Error.NoReply",
		"org.freedesktop.DBus.Error.Timeout", "org.freedesktop.DBus.Error.TimedOut":
		return true
	}
	return strings.Contains(err.Error(), "failed to unlock correct collection")
}

// dbusErrorName returns the D-Bus error name carried by err, if any. godbus
// returns method errors by value but constructs them by pointer elsewhere.
func dbusErrorName(err error) string {
	var v dbus.Error
	if errors.As(err, &v) {
		return v.Name
	}
	var p *dbus.Error
	if errors.As(err, &p) && p != nil {
		return p.Name
	}
	return ""
}
