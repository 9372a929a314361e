package tokenrefresh

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dbus "github.com/godbus/dbus/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/tokenrefresh/tokenrefresh/internal/demoserver"
)

// The cross-process test runs copies of this test binary as helper
// processes; these variables tell a copy what to do.
const (
	helperEnv         = "TOKENREFRESH_CROSS_HELPER"
	helperServerEnv   = "TOKENREFRESH_CROSS_SERVER"
	helperStoreEnv    = "TOKENREFRESH_CROSS_STORE" // "file:PATH" or "keyring:SERVICE"
	helperLockEnv     = "TOKENREFRESH_CROSS_LOCK"
	crossProcessCount = 8
)

// Eight processes share one store and one lock, against a server that
// rotates refresh tokens and revokes the session on any reuse. They all
// find the access token expired at once: one refresh, no reuse, all
// succeed and end on the same token.
func TestCrossProcessRefreshOnce(t *testing.T) {
	t.Run("file store", func(t *testing.T) {
		runCrossProcess(t, "file:"+filepath.Join(t.TempDir(), "session", "token.json"))
	})
	t.Run("keyring", func(t *testing.T) {
		if os.Getenv(keyringTestsEnv) != "1" {
			t.Skip("set TOKENREFRESH_KEYRING_TESTS=1 and run under dbus-run-session with gnome-keyring-daemon; see README")
		}
		t.Cleanup(closeSessionBus)
		runCrossProcess(t, "keyring:tokenrefresh-cross-"+randomText(t, 8))
	})
}

func runCrossProcess(t *testing.T, storeSpec string) {
	clock := newFakeClock()
	server := demoserver.New(demoserver.Config{Rotate: true, DetectReuse: true, AccessTTL: time.Hour, Now: clock.Now})
	srv := httptest.NewServer(server)
	defer srv.Close()

	// Log in and store the session the way a CLI's login command would.
	store := crossStore(storeSpec)
	defer func() { _ = store.Delete(context.Background()) }()
	login, err := server.Login("demo", "demo")
	require.NoError(t, err)
	// The helpers run on the real clock: an expiry in the past makes them
	// all see the access token as expired at once.
	require.NoError(t, store.Save(t.Context(), &oauth2.Token{
		AccessToken: login.AccessToken, RefreshToken: login.RefreshToken, TokenType: "Bearer",
		Expiry: time.Now().Add(-time.Minute),
	}))
	lockPath := filepath.Join(t.TempDir(), "refresh.lock")

	type helper struct {
		cmd   *exec.Cmd
		stdin io.WriteCloser
		out   *bufio.Scanner
	}
	helpers := make([]helper, crossProcessCount)
	for i := range helpers {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrossProcessHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(), helperEnv+"=1", helperServerEnv+"="+srv.URL,
			helperStoreEnv+"="+storeSpec, helperLockEnv+"="+lockPath)
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe()
		require.NoError(t, err)
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		helpers[i] = helper{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
	}
	// Each helper says "ready" once its Source is built; then all go at once.
	for _, h := range helpers {
		require.True(t, h.out.Scan(), "helper died before it was ready")
		require.Equal(t, "ready", h.out.Text())
	}
	for _, h := range helpers {
		require.NoError(t, h.stdin.Close())
	}

	finals := map[string]int{}
	for i, h := range helpers {
		var result string
		for h.out.Scan() {
			if line := h.out.Text(); strings.HasPrefix(line, "token ") {
				result = strings.TrimPrefix(line, "token ")
			}
		}
		require.NoError(t, h.cmd.Wait(), "helper %d failed", i)
		finals[result]++
	}

	stats := server.Stats()
	assert.Equal(t, 1, stats.Refreshes, "refreshes at the server")
	assert.Zero(t, stats.ReuseDetected, "reused refresh tokens")
	assert.Zero(t, stats.RefreshRejected)
	assert.Equal(t, crossProcessCount, stats.APIRequests-stats.API401, "successful API requests")
	require.Len(t, finals, 1, "the processes ended on different tokens: %v", finals)
	stored, err := store.Load(t.Context())
	require.NoError(t, err)
	for final := range finals {
		assert.Equal(t, fingerprint(stored.AccessToken), final, "the store does not hold the token in use")
	}
	assert.NotEqual(t, login.RefreshToken, stored.RefreshToken, "the rotated refresh token was not saved")
}

// TestCrossProcessHelper is one process of TestCrossProcessRefreshOnce.
func TestCrossProcessHelper(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("helper process for TestCrossProcessRefreshOnce")
	}
	server := os.Getenv(helperServerEnv)
	if strings.HasPrefix(os.Getenv(helperStoreEnv), "keyring:") {
		t.Cleanup(closeSessionBus)
	}
	transport := &http.Transport{}
	defer transport.CloseIdleConnections()
	src := NewSource(JSONRefresher(server+"/refresh", &http.Client{Transport: transport}),
		WithStore(crossStore(os.Getenv(helperStoreEnv))),
		WithLocker(NewFileLockerAt(os.Getenv(helperLockEnv))))
	client := &http.Client{Transport: &Transport{Source: src, Base: transport}}

	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin) // the parent closes stdin to start everyone at once

	resp, err := client.Get(server + "/api/work")
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	tok, err := src.TokenContext(t.Context())
	require.NoError(t, err)
	fmt.Println("token", fingerprint(tok.AccessToken))
}

func crossStore(spec string) Store {
	kind, arg, _ := strings.Cut(spec, ":")
	if kind == "keyring" {
		return NewKeyringStore(arg, "cross-process", WithKeyringTimeout(10*time.Second))
	}
	return NewFileStore(arg)
}

// closeSessionBus closes godbus's shared session bus connection, which the
// keyring opens and keeps, with its goroutines, for the life of the process.
func closeSessionBus() {
	if conn, err := dbus.SessionBus(); err == nil {
		_ = conn.Close()
	}
}

// fingerprint identifies a token without revealing it.
func fingerprint(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:8])
}
