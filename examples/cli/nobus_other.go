//go:build !((dragonfly && cgo) || (freebsd && cgo) || linux || netbsd || openbsd)

package main

// noAutolaunchedBus does nothing where the keyring is not on D-Bus.
func noAutolaunchedBus() {}
