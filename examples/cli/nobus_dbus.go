//go:build (dragonfly && cgo) || (freebsd && cgo) || linux || netbsd || openbsd

package main

import (
	"os"
	"strconv"
)

// These are the platforms where go-keyring reaches the keyring through the
// D-Bus session bus.

// noAutolaunchedBus stops godbus from starting a session bus of its own
// when there is none. It would run dbus-launch, which leaves a bus daemon,
// and often a keyring daemon with a locked collection, behind on every run;
// the store would then time out on the locked keyring instead of falling
// back to its file. An address with no usable transport makes the keyring
// report ErrKeyringUnavailable at once. godbus looks for a bus in
// $DBUS_SESSION_BUS_ADDRESS and then under /run/user/$UID.
func noAutolaunchedBus() {
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") != "" {
		return
	}
	run := "/run/user/" + strconv.Itoa(os.Getuid())
	for _, name := range []string{"bus", "dbus-session"} {
		if _, err := os.Stat(run + "/" + name); err == nil {
			return
		}
	}
	os.Setenv("DBUS_SESSION_BUS_ADDRESS", "disabled:")
}
