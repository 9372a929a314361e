package tokenrefresh

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	dbus "github.com/godbus/dbus/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/zalando/go-keyring"
)

// These tests use the real Secret Service through go-keyring. Run them with
// .ci/keyring-session.sh, which provides a private D-Bus session and an
// unlocked GNOME Keyring:
//
//	.ci/keyring-session.sh go test -race -run Keyring .

const keyringTestsEnv = "TOKENREFRESH_KEYRING_TESTS"

// secretServiceStore returns a store under a service name unique to this
// test, so runs never see each other's items.
func secretServiceStore(t *testing.T, account string) *KeyringStore {
	t.Helper()
	if os.Getenv(keyringTestsEnv) != "1" {
		t.Skip("set TOKENREFRESH_KEYRING_TESTS=1 and run under dbus-run-session with gnome-keyring-daemon; see README")
	}
	if runtime.GOOS != "linux" {
		t.Skip("the Secret Service tests run on Linux")
	}
	// godbus keeps one shared session bus connection, with its reader
	// goroutines, for the life of the process; closing it lets TestMain's
	// leak check pass. The next test reconnects.
	t.Cleanup(func() {
		if conn, err := dbus.SessionBus(); err == nil {
			_ = conn.Close()
		}
	})
	service := "tokenrefresh-test-" + strings.ToLower(t.Name()) + "-" + randomText(t, 8)
	s := NewKeyringStore(service, account, WithKeyringTimeout(10*time.Second))
	t.Cleanup(func() { _ = s.Delete(context.Background()) })
	return s
}

func TestKeyringSecretServiceRoundTrip(t *testing.T) {
	s := secretServiceStore(t, "alice")
	tok := persistTestToken(t, 300)

	_, err := s.Load(t.Context())
	require.ErrorIs(t, err, ErrNoToken)
	require.NoError(t, s.Save(t.Context(), tok))
	got, err := s.Load(t.Context())
	require.NoError(t, err)
	requireSameToken(t, tok, got, "id_token", "scope")

	require.NoError(t, s.Delete(t.Context()))
	_, err = s.Load(t.Context())
	require.ErrorIs(t, err, ErrNoToken)
}

func TestKeyringSecretServiceLargeToken(t *testing.T) {
	s := secretServiceStore(t, "alice")
	first, second := persistTestToken(t, 16<<10), persistTestToken(t, 16<<10)

	require.NoError(t, s.Save(t.Context(), first))
	m1 := secretServiceManifest(t, s)
	require.Greater(t, m1.Chunks, 1, "a 16 KB token is chunked")
	require.NoError(t, s.Save(t.Context(), second))
	got, err := s.Load(t.Context())
	require.NoError(t, err)
	requireSameToken(t, second, got, "id_token", "scope")

	for i := 0; i < m1.Chunks; i++ {
		_, err := keyring.Get(s.service, chunkUser(s.account, m1.Gen, i))
		require.ErrorIs(t, err, keyring.ErrNotFound, "chunk %d of the replaced token", i)
	}
	m2 := secretServiceManifest(t, s)
	require.NoError(t, s.Delete(t.Context()))
	for i := 0; i < m2.Chunks; i++ {
		_, err := keyring.Get(s.service, chunkUser(s.account, m2.Gen, i))
		require.ErrorIs(t, err, keyring.ErrNotFound, "chunk %d after Delete", i)
	}
	_, err = keyring.Get(s.service, s.account)
	require.ErrorIs(t, err, keyring.ErrNotFound, "manifest after Delete")
}

func TestKeyringSecretServiceAccountsAreIsolated(t *testing.T) {
	alice := secretServiceStore(t, "alice")
	bob := NewKeyringStore(alice.service, "bob")
	t.Cleanup(func() { _ = bob.Delete(context.Background()) })
	aliceTok, bobTok := persistTestToken(t, 16<<10), persistTestToken(t, 200)

	require.NoError(t, alice.Save(t.Context(), aliceTok))
	require.NoError(t, bob.Save(t.Context(), bobTok))
	got, err := alice.Load(t.Context())
	require.NoError(t, err)
	requireSameToken(t, aliceTok, got)
	got, err = bob.Load(t.Context())
	require.NoError(t, err)
	requireSameToken(t, bobTok, got)

	require.NoError(t, alice.Delete(t.Context()))
	_, err = alice.Load(t.Context())
	require.ErrorIs(t, err, ErrNoToken)
	got, err = bob.Load(t.Context())
	require.NoError(t, err)
	requireSameToken(t, bobTok, got)
}

func TestKeyringSecretServiceDeleteMissing(t *testing.T) {
	s := secretServiceStore(t, "nobody")
	require.NoError(t, s.Delete(t.Context()))
}

func secretServiceManifest(t *testing.T, s *KeyringStore) manifest {
	t.Helper()
	v, err := keyring.Get(s.service, s.account)
	require.NoError(t, err)
	m, err := decodeManifest(v)
	require.NoError(t, err)
	return m
}

// The absent Secret Service tests need no keyring of their own, so they run
// without TOKENREFRESH_KEYRING_TESTS. godbus reads DBUS_SESSION_BUS_ADDRESS
// only when it first connects and then keeps the connection for the life of
// the process, so each case runs the store in a fresh child process.

const absentHelperEnv = "TOKENREFRESH_ABSENT_KEYRING_HELPER"

// TestKeyringAbsentHelperProcess is the child of TestKeyringAbsentSecretService.
func TestKeyringAbsentHelperProcess(t *testing.T) {
	if os.Getenv(absentHelperEnv) != "1" {
		t.Skip("helper process for TestKeyringAbsentSecretService")
	}
	s := NewKeyringStore("tokenrefresh-test-absent", "alice", WithKeyringTimeout(5*time.Second))
	_, err := s.Load(context.Background())
	switch {
	case errors.Is(err, ErrKeyringUnavailable):
		fmt.Println("result: unavailable")
		fmt.Printf("error: %v\n", err)
	case errors.Is(err, ErrKeyringTimeout):
		fmt.Println("result: timeout")
	default:
		fmt.Printf("result: other: %v\n", err)
	}
	os.Exit(0) // before TestMain's leak check: godbus may hold goroutines
}

func TestKeyringAbsentSecretService(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the Secret Service is Linux's keyring")
	}
	dir := t.TempDir()
	t.Run("dead bus socket", func(t *testing.T) {
		out, _ := runAbsentHelper(t, nil, "DBUS_SESSION_BUS_ADDRESS=unix:path="+filepath.Join(dir, "no-bus"))
		assert.Equal(t, "result: unavailable", out)
	})
	t.Run("no bus", func(t *testing.T) {
		// No address and nothing where godbus looks for a bus: godbus would
		// run dbus-launch, which leaves daemons behind and a locked keyring
		// that times out. A dbus-launch that records being run and
		// starts nothing stands in for the real one.
		uid := strconv.Itoa(os.Getuid())
		for _, name := range []string{"bus", "dbus-session"} {
			if _, err := os.Stat(filepath.Join("/run/user", uid, name)); err == nil {
				t.Skipf("this machine has a session bus at /run/user/%s/%s, where godbus looks", uid, name)
			}
		}
		bin, ran := fakeDBusLaunch(t)
		out, msg := runAbsentHelper(t, nil, "DBUS_SESSION_BUS_ADDRESS", "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
		assert.Equal(t, "result: unavailable", out)
		assert.Contains(t, msg, "no D-Bus session bus")
		assert.Contains(t, msg, "set DBUS_SESSION_BUS_ADDRESS or use a file store")
		assert.NoFileExists(t, ran, "dbus-launch was run")
	})
	t.Run("bus without secret service", func(t *testing.T) {
		if _, err := exec.LookPath("dbus-run-session"); err != nil {
			t.Skip("dbus-run-session not installed")
		}
		// A session bus that cannot activate any service, gnome-keyring included.
		conf := filepath.Join(dir, "bus.conf")
		require.NoError(t, os.WriteFile(conf, []byte(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir=`+dir+`</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`), 0o600))
		out, _ := runAbsentHelper(t, []string{"dbus-run-session", "--config-file=" + conf, "--"})
		assert.Equal(t, "result: unavailable", out)
	})
	t.Run("locked keyring", func(t *testing.T) {
		for _, tool := range []string{"dbus-run-session", "gnome-keyring-daemon"} {
			if _, err := exec.LookPath(tool); err != nil {
				t.Skip(tool + " not installed")
			}
		}
		// gnome-keyring started without a password: its collection stays
		// locked, and unlocking it would need a prompt nobody answers.
		home := t.TempDir()
		require.NoError(t, os.Mkdir(filepath.Join(home, "data"), 0o700))
		require.NoError(t, os.Mkdir(filepath.Join(home, "run"), 0o700))
		wrapper := []string{"dbus-run-session", "--", "sh", "-c",
			`gnome-keyring-daemon --start --components=secrets >/dev/null && exec "$@"`, "sh"}
		out, msg := runAbsentHelper(t, wrapper,
			"XDG_DATA_HOME="+filepath.Join(home, "data"), "XDG_RUNTIME_DIR="+filepath.Join(home, "run"))
		t.Logf("%s: %s", out, msg)
		assert.Contains(t, []string{"result: timeout", "result: unavailable"}, out, "a locked keyring must fail, not hang or succeed")
	})
}

// runAbsentHelper runs TestKeyringAbsentHelperProcess, under wrapper if
// given, and returns its result line and the error it printed, if any. env
// adds to or replaces this process's environment; a name without "="
// removes that variable. A hang fails the test instead of blocking it.
func runAbsentHelper(t *testing.T, wrapper []string, env ...string) (result, errText string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	args := append(wrapper, os.Args[0], "-test.run=^TestKeyringAbsentHelperProcess$")
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(environWithout(env), absentHelperEnv+"=1")
	for _, kv := range env {
		if strings.Contains(kv, "=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.Output()
	require.NoError(t, err, "helper failed: %s", out)
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "error: "); ok {
			errText = v
		}
		if strings.HasPrefix(line, "result: ") {
			result = line
		}
	}
	if result == "" {
		t.Fatalf("helper printed no result: %s", out)
	}
	return result, errText
}

// environWithout returns this process's environment without the variables
// named in env ("NAME" or "NAME=value").
func environWithout(env []string) []string {
	var kept []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.ContainsFunc(env, func(e string) bool { n, _, _ := strings.Cut(e, "="); return n == name }) {
			kept = append(kept, kv)
		}
	}
	return kept
}

// fakeDBusLaunch writes a dbus-launch into a new directory, for PATH, that
// creates the file ran and prints the address of a bus that does not exist.
func fakeDBusLaunch(t *testing.T) (dir, ran string) {
	t.Helper()
	dir = t.TempDir()
	ran = filepath.Join(dir, "ran")
	script := "#!/bin/sh\n: > '" + ran + "'\necho 'DBUS_SESSION_BUS_ADDRESS=unix:path=" + filepath.Join(dir, "no-bus") + "'\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "dbus-launch"), []byte(script), 0o700))
	return dir, ran
}
