#!/bin/sh
# Runs a command inside a throwaway D-Bus session with an unlocked GNOME
# Keyring (Secret Service), with TOKENREFRESH_KEYRING_TESTS=1 exported, so
# that the real-keyring tests of tokenrefresh run instead of skipping.
#
#   .ci/keyring-session.sh go test -race -run Keyring .
#
# Needs dbus-run-session (package dbus) and gnome-keyring-daemon (package
# gnome-keyring). Nothing outside a fresh temporary directory is touched:
# the keyring lives in its own XDG_DATA_HOME, the daemon's sockets in its own
# XDG_RUNTIME_DIR, and both go away with the session.
set -eu

if [ "$#" -eq 0 ]; then
	echo "usage: $0 command [args...]" >&2
	exit 2
fi
for tool in dbus-run-session gnome-keyring-daemon; do
	command -v "$tool" >/dev/null 2>&1 || {
		echo "$0: $tool not found (apt-get install dbus gnome-keyring)" >&2
		exit 2
	}
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tokenrefresh-keyring.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir -m 0700 "$tmp/data" "$tmp/runtime"
export XDG_DATA_HOME="$tmp/data" XDG_RUNTIME_DIR="$tmp/runtime"
export TOKENREFRESH_KEYRING_TESTS=1

# The password creates and unlocks a new "login" collection; it protects
# nothing but this session's throwaway keyring. The daemon exits with the bus.
dbus-run-session -- sh -c '
	printf %s "${TOKENREFRESH_KEYRING_PASSWORD:-tokenrefresh-ci}" |
		gnome-keyring-daemon --unlock --components=secrets >/dev/null
	exec "$@"
' keyring-session "$@"
