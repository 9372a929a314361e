//go:build (dragonfly && cgo) || (freebsd && cgo) || linux || netbsd || openbsd

package tokenrefresh

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"

	dbus "github.com/godbus/dbus/v5"
)

// This build constraint matches go-keyring's keyring_unix.go: these are the
// platforms where it talks to the Secret Service over the D-Bus session bus.

// platformUnreachable returns an error wrapping ErrKeyringUnavailable when
// there is no D-Bus session bus to reach the Secret Service on, and nil
// otherwise. It contacts nothing; systemKeyring calls it before every call.
//
// Without it, godbus (which go-keyring uses) would run dbus-launch to start
// a private session bus on each call: that leaves a bus daemon, and often a
// keyring daemon whose new collection is locked, behind on every run, and
// the call then waits for an unlock nobody can give and times out instead of
// reporting that there is no keyring.
func platformUnreachable() error {
	runDir := ""
	// godbus's runtime directory: from the user database, not $XDG_RUNTIME_DIR.
	if u, err := user.Current(); err == nil {
		runDir = "/run/user/" + u.Uid
	}
	return sessionBusMissing(os.Getenv("DBUS_SESSION_BUS_ADDRESS"), runDir, os.Getenv("XDG_RUNTIME_DIR"))
}

// sessionBusMissing finds the session bus as godbus v5.2.2's
// getSessionBusAddress and tryDiscoverDbusSessionBusAddress do, given the
// value of $DBUS_SESSION_BUS_ADDRESS and godbus's runtime directory ("" when
// it has none), but where godbus would fall back to dbus-launch it returns
// an error. xdgRuntimeDir, which godbus ignores, only improves the message.
func sessionBusMissing(addr, runDir, xdgRuntimeDir string) error {
	// godbus takes any address as given, except "autolaunch:", which
	// means the same to it as no address.
	if addr != "" && addr != "autolaunch:" {
		return nil
	}
	why := "DBUS_SESSION_BUS_ADDRESS is unset"
	if addr != "" {
		why = "DBUS_SESSION_BUS_ADDRESS is " + addr
	}
	if runDir != "" {
		// This file is the bus socket. godbus counts anything that
		// os.Stat does not report missing.
		bus := filepath.Join(runDir, "bus")
		if _, err := os.Stat(bus); !errors.Is(err, os.ErrNotExist) {
			return nil
		}
		// This file holds the bus address, as dbus-launch prints it.
		if b, err := os.ReadFile(filepath.Join(runDir, "dbus-session")); err == nil {
			if a, ok := strings.CutPrefix(string(b), "DBUS_SESSION_BUS_ADDRESS="); ok && strings.TrimRight(a, "\r\n") != "" {
				return nil
			}
		}
		why += " and there is no " + bus
	}
	fix := "set DBUS_SESSION_BUS_ADDRESS"
	if xdgRuntimeDir != "" && filepath.Join(xdgRuntimeDir, "bus") != filepath.Join(runDir, "bus") {
		if fi, err := os.Stat(filepath.Join(xdgRuntimeDir, "bus")); err == nil && fi.Mode().Type() == os.ModeSocket {
			fix += "=unix:path=" + dbus.EscapeBusAddressValue(filepath.Join(xdgRuntimeDir, "bus"))
		}
	}
	return fmt.Errorf("%w: no D-Bus session bus (%s; not starting one with dbus-launch): %s or use a file store",
		ErrKeyringUnavailable, why, fix)
}

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
