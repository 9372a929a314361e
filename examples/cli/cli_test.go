package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dbus "github.com/godbus/dbus/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/oauth2"

	"github.com/tokenrefresh/tokenrefresh"
	"github.com/tokenrefresh/tokenrefresh/internal/demoserver"
	"github.com/tokenrefresh/tokenrefresh/internal/fakeclock"
)

// These tests build the command once and drive it end to end, as separate
// processes, against a demo server in this process whose clock the tests
// move. By default the session is kept with --insecure-file-store, and in
// the keyring's file fallback (with a dead D-Bus address); with
// TOKENREFRESH_KEYRING_TESTS=1, inside a D-Bus session with an unlocked
// keyring (.ci/keyring-session.sh), every test runs against the real OS
// keyring as well.

const (
	user     = "alice"
	password = "correct horse Battery-staple" // with spaces: only the line ending is trimmed
	// accessTTL is the server's access token lifetime, on its own clock.
	accessTTL = time.Minute
	// runTimeout bounds every run of the command.
	runTimeout = 60 * time.Second
)

// cliBin is the command under test, built by TestMain.
var cliBin string

func TestMain(m *testing.M) { goleak.VerifyTestMain(buildFirst{m}) }

// buildFirst builds the command before the tests run and removes it after.
type buildFirst struct{ m *testing.M }

func (b buildFirst) Run() int {
	dir, err := os.MkdirTemp("", "tokenrefresh-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	cliBin = filepath.Join(dir, "cli")
	args := []string{"build", "-o", cliBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	if out, err := exec.Command("go", append(args, ".")...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the command: %v\n%s", err, out)
		return 1
	}
	return b.m.Run()
}

// Store modes.
const (
	fileMode     = "file"     // --insecure-file-store
	fallbackMode = "fallback" // keyring store, no keyring: its file fallback
	keyringMode  = "keyring"  // the real OS keyring
)

// eachStore runs fn once per store mode.
func eachStore(t *testing.T, fn func(t *testing.T, f *fixture)) {
	modes := []string{fileMode}
	if busPlatform() {
		modes = append(modes, fallbackMode)
		if os.Getenv("TOKENREFRESH_KEYRING_TESTS") == "1" {
			modes = append(modes, keyringMode)
		}
	}
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) { fn(t, newFixture(t, mode)) })
	}
}

// busPlatform reports whether the keyring is reached over D-Bus here, so
// that a dead bus address means "no keyring".
func busPlatform() bool {
	switch runtime.GOOS {
	case "linux", "freebsd", "openbsd", "netbsd", "dragonfly":
		return true
	}
	return false
}

// fixture is a demo server, a private home for the command, and a store
// mode.
type fixture struct {
	t       *testing.T
	mode    string
	clk     *fakeclock.Clock // the demo server's clock
	ds      *demoserver.Server
	url     string
	dir     string
	service string
	// storePath is the token file in file and fallback modes.
	storePath string
	// lockPath is where the refresh lock file must be.
	lockPath string
	// envServer, if set, replaces the server in the environment.
	envServer string
	// noBus leaves DBUS_SESSION_BUS_ADDRESS unset in fallback mode, and
	// puts a dbus-launch that records being run (in launched) and starts
	// nothing first in PATH.
	noBus    bool
	launched string
	gate     atomic.Pointer[gate]

	mu      sync.Mutex
	outputs []string // every stdout and stderr, checked for secrets
	secrets []string // every token value seen in the store
}

func newFixture(t *testing.T, mode string) *fixture {
	t.Helper()
	f := &fixture{
		t:    t,
		mode: mode,
		clk:  fakeclock.New(time.Now()),
		dir:  t.TempDir(),
		// Unique per run, so keyring runs never see each other's items.
		service: "tokenrefresh-cli-test-" + strconv.FormatInt(time.Now().UnixNano(), 36),
		secrets: []string{password},
	}
	f.ds = demoserver.New(demoserver.Config{
		AccessTTL:   accessTTL,
		Rotate:      true,
		DetectReuse: true,
		Users:       map[string]string{user: password},
		Now:         f.clk.Now,
	})
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	f.url = srv.URL
	switch mode {
	case fileMode:
		f.storePath = filepath.Join(f.dir, "session", "token.json")
		f.lockPath = f.storePath + ".lock"
	case fallbackMode:
		f.storePath = filepath.Join(f.dir, "config", f.service, "session-"+digest(f.service, f.url)+".json")
		f.lockPath = filepath.Join(f.dir, "locks", digest(f.service, f.url)+".lock")
	case keyringMode:
		f.lockPath = filepath.Join(f.dir, "locks", digest(f.service, f.url)+".lock")
		t.Cleanup(func() {
			// Leave nothing in the keyring, then drop this process's bus
			// connection so that the leak check passes.
			f.cli("", "logout")
			_ = f.store().Delete(context.Background())
			if conn, err := dbus.SessionBus(); err == nil {
				_ = conn.Close()
			}
		})
	}
	t.Cleanup(f.checkNoSecrets)
	return f
}

// serve is the demo server, with the optional API gate in front.
func (f *fixture) serve(w http.ResponseWriter, r *http.Request) {
	if g := f.gate.Load(); g != nil && strings.HasPrefix(r.URL.Path, "/api/") {
		g.wait(r)
	}
	f.ds.ServeHTTP(w, r)
}

// gate holds API requests until n of them have arrived, so that n
// concurrent processes all send their request with the same token, and all
// get their 401 and set out to refresh that token together. Without
// coordination between them, each would spend the refresh token.
type gate struct {
	n        int32
	arrived  atomic.Int32
	open     chan struct{}
	once     sync.Once
	timedOut atomic.Bool
}

func newGate(n int) *gate { return &gate{n: int32(n), open: make(chan struct{})} }

func (g *gate) wait(r *http.Request) {
	if g.arrived.Add(1) >= g.n {
		g.once.Do(func() { close(g.open) })
	}
	t := time.NewTimer(runTimeout / 2)
	defer t.Stop()
	select {
	case <-g.open:
	case <-r.Context().Done():
	case <-t.C:
		g.timedOut.Store(true)
	}
}

// result is one run of the command.
type result struct {
	code           int
	stdout, stderr string
	// rawStderr is stderr including the fallback warning.
	rawStderr string
}

// cli runs the command with stdin and args, after the store flags of the
// fixture's mode, and waits for it.
func (f *fixture) cli(stdin string, args ...string) result {
	f.t.Helper()
	return f.start(stdin, args...)()
}

// start starts the command and returns a function that waits for it.
func (f *fixture) start(stdin string, args ...string) func() result {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	if f.mode == fileMode {
		args = append([]string{"--insecure-file-store", f.storePath}, args...)
	}
	cmd := exec.CommandContext(ctx, cliBin, args...)
	cmd.Env = f.env()
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(f.t, cmd.Start())
	return func() result {
		defer cancel()
		err := cmd.Wait()
		var exit *exec.ExitError
		code := 0
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else {
			require.NoError(f.t, err)
		}
		require.NoError(f.t, ctx.Err(), "the command did not finish in %v", runTimeout)
		res := result{code: code, stdout: stdout.String(), stderr: stderr.String(), rawStderr: stderr.String()}
		f.mu.Lock()
		f.outputs = append(f.outputs, res.stdout, res.stderr)
		f.mu.Unlock()
		if f.mode == fallbackMode {
			res.stderr = f.stripFallbackWarning(res.stderr)
		}
		assert.NotEqual(f.t, 66, res.code, "the race detector fired:\n%s", res.stderr)
		return res
	}
}

// env is the command's environment: a private home and cache, the lock
// directory, the server, the keyring service, and in fallback mode a dead
// D-Bus address.
func (f *fixture) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TOKENREFRESH_") && !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "GORACE=") &&
			!strings.HasPrefix(kv, "XDG_CACHE_HOME=") && !strings.HasPrefix(kv, "XDG_CONFIG_HOME=") &&
			!(f.mode != keyringMode && strings.HasPrefix(kv, "DBUS_SESSION_BUS_ADDRESS=")) {
			env = append(env, kv)
		}
	}
	env = append(env,
		"HOME="+filepath.Join(f.dir, "home"),
		"XDG_CACHE_HOME="+filepath.Join(f.dir, "cache"),
		"XDG_CONFIG_HOME="+filepath.Join(f.dir, "config"),
		lockDirEnv+"="+filepath.Join(f.dir, "locks"),
		serverEnv+"="+cmp.Or(f.envServer, f.url),
		serviceEnv+"="+f.service,
		// The race detector's report exits with 66; skip its 1 s sleep at
		// exit, which would dominate the run time.
		"GORACE=atexit_sleep_ms=0",
	)
	switch {
	case f.mode == fallbackMode && f.noBus:
		bin := filepath.Join(f.dir, "bin")
		f.launched = filepath.Join(f.dir, "dbus-launch-ran")
		require.NoError(f.t, os.MkdirAll(bin, 0o700))
		script := "#!/bin/sh\n: > '" + f.launched + "'\necho 'DBUS_SESSION_BUS_ADDRESS=unix:path=" + filepath.Join(f.dir, "no-bus") + "'\n"
		require.NoError(f.t, os.WriteFile(filepath.Join(bin, "dbus-launch"), []byte(script), 0o700))
		for i, kv := range env {
			if p, ok := strings.CutPrefix(kv, "PATH="); ok {
				env = slices.Delete(env, i, i+1)
				env = append(env, "PATH="+bin+string(os.PathListSeparator)+p)
				break
			}
		}
	case f.mode == fallbackMode:
		env = append(env, "DBUS_SESSION_BUS_ADDRESS=unix:path="+filepath.Join(f.dir, "no-bus"))
	}
	return env
}

// stripFallbackWarning removes the fallback warning, after checking that it
// is one line naming a file of this fixture's service.
func (f *fixture) stripFallbackWarning(stderr string) string {
	const prefix = "cli: warning: OS keyring unavailable; keeping the token in a file instead: "
	first, rest, _ := strings.Cut(stderr, "\n")
	if !strings.Contains(first, "OS keyring unavailable") {
		return stderr
	}
	assert.True(f.t, strings.HasPrefix(first, prefix+filepath.Join(f.dir, "config", f.service)+string(filepath.Separator)), first)
	assert.NotContains(f.t, rest, "OS keyring unavailable", "the warning is printed once per run")
	return rest
}

// store opens the fixture's store the way the command does.
func (f *fixture) store() tokenrefresh.Store {
	if f.mode == keyringMode {
		return tokenrefresh.NewKeyringStore(f.service, f.url,
			tokenrefresh.WithExtraFields(userField), tokenrefresh.WithKeyringTimeout(10*time.Second))
	}
	return tokenrefresh.NewFileStore(f.storePath, tokenrefresh.WithExtraFields(userField))
}

// stored returns the stored token and remembers its values as secrets.
func (f *fixture) stored() *oauth2.Token {
	f.t.Helper()
	tok, err := f.store().Load(context.Background())
	require.NoError(f.t, err)
	f.mu.Lock()
	f.secrets = append(f.secrets, tok.AccessToken, tok.RefreshToken)
	f.mu.Unlock()
	return tok
}

// requireNoStoredToken checks that the store is empty.
func (f *fixture) requireNoStoredToken() {
	f.t.Helper()
	_, err := f.store().Load(context.Background())
	require.ErrorIs(f.t, err, tokenrefresh.ErrNoToken)
}

// checkNoSecrets fails if any output of the command contains a token
// value or the password.
func (f *fixture) checkNoSecrets() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, out := range f.outputs {
		for _, s := range f.secrets {
			if s != "" && strings.Contains(out, s) {
				f.t.Errorf("a secret (%d bytes) appears in the command's output:\n%s",
					len(s), strings.ReplaceAll(out, s, "[SECRET]"))
			}
		}
	}
}

// login logs in as user and checks that it worked.
func (f *fixture) login() *oauth2.Token {
	f.t.Helper()
	res := f.cli(password+"\n", "login", "-u", user)
	require.Equal(f.t, 0, res.code, "login: %+v", res)
	require.Empty(f.t, res.stderr)
	require.Equal(f.t, fmt.Sprintf("Logged in to %s as %s; session saved in %s.\n", f.url, user, f.storeName()), res.stdout)
	return f.stored()
}

// storeName is how the command names the fixture's store.
func (f *fixture) storeName() string {
	switch f.mode {
	case fileMode:
		return "file " + f.storePath + " (--insecure-file-store)"
	case fallbackMode:
		return "file " + f.storePath + " (OS keyring unavailable)"
	}
	return fmt.Sprintf("OS keyring (service %q, account %q)", f.service, f.url)
}

// get fetches path and checks the answer.
func (f *fixture) get(path string) {
	f.t.Helper()
	res := f.cli("", "get", path)
	require.Equal(f.t, 0, res.code, "get: %+v", res)
	require.Empty(f.t, res.stderr)
	require.JSONEq(f.t, fmt.Sprintf(`{"user":%q,"path":%q}`, user, path), res.stdout)
}

// expireStored moves the stored token's expiry into the past, as if the
// command had not run for a while, and the server's clock past it.
func (f *fixture) expireStored() {
	f.t.Helper()
	tok := f.stored()
	tok.Expiry = time.Now().Add(-time.Minute)
	require.NoError(f.t, f.store().Save(context.Background(), tok))
	f.clk.Advance(accessTTL + time.Second)
}

// delta is the change in server counters since before.
func (f *fixture) delta(before demoserver.Stats) demoserver.Stats {
	after := f.ds.Stats()
	return demoserver.Stats{
		Logins:          after.Logins - before.Logins,
		LoginFailures:   after.LoginFailures - before.LoginFailures,
		Refreshes:       after.Refreshes - before.Refreshes,
		RefreshRejected: after.RefreshRejected - before.RefreshRejected,
		ReuseDetected:   after.ReuseDetected - before.ReuseDetected,
		SessionsRevoked: after.SessionsRevoked - before.SessionsRevoked,
		APIRequests:     after.APIRequests - before.APIRequests,
		API401:          after.API401 - before.API401,
		BadRequests:     after.BadRequests - before.BadRequests,
	}
}

func TestLoginGetStatusLogout(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		res := f.cli("", "status")
		assert.Equal(t, 3, res.code)
		assert.Equal(t, fmt.Sprintf("Server:        %s\nSession store: %s\nLogged in:     no\n", f.url, f.storeName()), res.stdout)

		start := time.Now()
		tok := f.login()
		assert.Equal(t, 1, f.ds.Stats().Logins)
		assert.NotEmpty(t, tok.RefreshToken)
		assert.Equal(t, user, tok.Extra(userField))
		assert.WithinRange(t, tok.Expiry, start.Add(accessTTL), time.Now().Add(accessTTL))
		if f.storePath != "" {
			fi, err := os.Stat(f.storePath)
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
		}

		f.get("/api/hello")
		assert.FileExists(t, f.lockPath, "the refresh lock is where the test put it")
		assert.NoDirExists(t, filepath.Join(f.dir, "cache", "tokenrefresh"), "the default lock directory is not used")

		res = f.cli("", "status")
		require.Equal(t, 0, res.code, "%+v", res)
		assert.Empty(t, res.stderr)
		lines := strings.Split(strings.TrimSuffix(res.stdout, "\n"), "\n")
		require.Len(t, lines, 5, res.stdout)
		assert.Equal(t, "Server:        "+f.url, lines[0])
		assert.Equal(t, "Session store: "+f.storeName(), lines[1])
		assert.Equal(t, "Logged in as:  "+user, lines[2])
		assert.Regexp(t, `^Access token:  expires \S+ \(in (1m0s|[0-9]+s)\)$`, lines[3])
		assert.Equal(t, "Refresh token: present", lines[4])

		res = f.cli("", "logout")
		require.Equal(t, 0, res.code, "%+v", res)
		assert.Equal(t, fmt.Sprintf("Logged out %s from %s.\n", user, f.url), res.stdout)
		f.requireNoStoredToken()

		res = f.cli("", "status")
		assert.Equal(t, 3, res.code)
		assert.Contains(t, res.stdout, "Logged in:     no\n")

		res = f.cli("", "get", "/api/hello")
		assert.Equal(t, 3, res.code)
		assert.Empty(t, res.stdout)
		assert.Equal(t, fmt.Sprintf("cli: not logged in to %s; run 'cli login' first\n", f.url), res.stderr)

		res = f.cli("", "logout")
		assert.Equal(t, 0, res.code)
		assert.Equal(t, fmt.Sprintf("Not logged in to %s; nothing to do.\n", f.url), res.stdout)

		st := f.ds.Stats()
		assert.Equal(t, 1, st.Logins)
		assert.Equal(t, 1, st.APIRequests, "status, logout and a get without a session make no API call")
		assert.Equal(t, 0, st.Refreshes)
	})
}

func TestSessionReusedAcrossProcesses(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		tok := f.login()
		before := f.ds.Stats()
		for i := range 3 {
			f.get("/api/run/" + strconv.Itoa(i))
		}
		d := f.delta(before)
		assert.Equal(t, 0, d.Logins, "later runs reuse the stored session")
		assert.Equal(t, 3, d.APIRequests)
		assert.Equal(t, 0, d.API401)
		assert.Equal(t, 0, d.Refreshes)
		assert.Equal(t, tok.AccessToken, f.stored().AccessToken)
	})
}

func TestExpiredTokenRefreshedAndSaved(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		first := f.login()

		// The server's clock passes the expiry: the token is refused with a
		// 401, refreshed, and the request retried.
		before := f.ds.Stats()
		f.clk.Advance(accessTTL + time.Second)
		f.get("/api/after-expiry")
		d := f.delta(before)
		assert.Equal(t, 1, d.Refreshes)
		assert.Equal(t, 1, d.API401)
		assert.Equal(t, 2, d.APIRequests)
		second := f.stored()
		assert.NotEqual(t, first.AccessToken, second.AccessToken, "the new access token is saved")
		assert.NotEqual(t, first.RefreshToken, second.RefreshToken, "the rotated refresh token is saved")
		assert.NotEmpty(t, second.RefreshToken)
		assert.Equal(t, user, second.Extra(userField), "the username survives the refresh")
		assert.True(t, second.Expiry.After(time.Now()))

		// The next run uses the saved token as it is.
		before = f.ds.Stats()
		f.get("/api/again")
		d = f.delta(before)
		assert.Equal(t, 0, d.Refreshes)
		assert.Equal(t, 0, d.API401)
		assert.Equal(t, second.AccessToken, f.stored().AccessToken)

		// The stored expiry has passed when the command starts: it refreshes
		// before sending anything, so the server sees no expired token.
		f.expireStored()
		res := f.cli("", "status")
		require.Equal(t, 0, res.code, "%+v", res)
		assert.Regexp(t, `(?m)^Access token:  expired \S+ \(1m[0-9]+s ago\); refreshed on next use$`, res.stdout)
		before = f.ds.Stats()
		f.get("/api/proactive")
		d = f.delta(before)
		assert.Equal(t, 1, d.Refreshes)
		assert.Equal(t, 0, d.API401)
		assert.Equal(t, 1, d.APIRequests)
		third := f.stored()
		assert.NotEqual(t, second.RefreshToken, third.RefreshToken)
		assert.Equal(t, user, third.Extra(userField))
		assert.True(t, third.Expiry.After(time.Now()))

		st := f.ds.Stats()
		assert.Equal(t, 1, st.Logins)
		assert.Equal(t, 0, st.RefreshRejected)
	})
}

func TestConcurrentRunsRefreshOnce(t *testing.T) {
	const procs = 3
	eachStore(t, func(t *testing.T, f *fixture) {
		f.login()

		// The processes' requests are answered together, all with a 401,
		// so all of them set out to refresh the same token at once.
		for round := range 2 {
			prev := f.stored()
			before := f.ds.Stats()
			g := newGate(procs)
			f.gate.Store(g)
			f.clk.Advance(accessTTL + time.Second)
			f.runConcurrently(procs, fmt.Sprintf("/api/storm/%d", round))
			f.gate.Store(nil)
			assert.False(t, g.timedOut.Load(), "the processes never all sent their request")
			d := f.delta(before)
			assert.Equal(t, 1, d.Refreshes, "round %d: one refresh for %d processes", round, procs)
			assert.Equal(t, 0, d.ReuseDetected, "round %d", round)
			assert.Equal(t, 0, d.RefreshRejected, "round %d", round)
			assert.Equal(t, procs, d.API401, "round %d", round)
			assert.Equal(t, 2*procs, d.APIRequests, "round %d", round)
			assert.NotEqual(t, prev.RefreshToken, f.stored().RefreshToken, "round %d", round)
		}

		// The stored token has expired when they start: they refresh
		// before any request, one for all.
		f.expireStored()
		before := f.ds.Stats()
		f.runConcurrently(procs, "/api/storm/stored")
		d := f.delta(before)
		assert.Equal(t, 1, d.Refreshes)
		assert.Equal(t, 0, d.ReuseDetected)
		assert.Equal(t, 0, d.API401)
		assert.Equal(t, 1, f.ds.Stats().Logins)
	})
}

// runConcurrently starts n gets of path at once and checks them all.
func (f *fixture) runConcurrently(n int, path string) {
	f.t.Helper()
	waits := make([]func() result, n)
	for i := range waits {
		waits[i] = f.start("", "get", path)
	}
	for _, wait := range waits {
		res := wait()
		assert.Equal(f.t, 0, res.code, "%+v", res)
		assert.Empty(f.t, res.stderr)
		assert.JSONEq(f.t, fmt.Sprintf(`{"user":%q,"path":%q}`, user, path), res.stdout)
	}
}

func TestRejectedSessionRequiresLogin(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.login()
		require.Equal(t, 1, f.ds.RevokeSession(user))

		before := f.ds.Stats()
		res := f.cli("", "get", "/api/revoked")
		assert.Equal(t, 3, res.code)
		assert.Empty(t, res.stdout)
		assert.Equal(t, fmt.Sprintf("cli: the session with %s has ended (the server rejected it); run 'cli login' to log in again\n", f.url), res.stderr)
		d := f.delta(before)
		assert.Equal(t, 1, d.API401)
		assert.Equal(t, 1, d.RefreshRejected)
		assert.Equal(t, 0, d.Refreshes)
		f.requireNoStoredToken()

		res = f.cli("", "status")
		assert.Equal(t, 3, res.code)
		assert.Contains(t, res.stdout, "Logged in:     no\n")

		// Logging in again starts a new session.
		f.login()
		f.get("/api/back")
		assert.Equal(t, 2, f.ds.Stats().Logins)
	})
}

func TestLoginInput(t *testing.T) {
	f := newFixture(t, fileMode)

	res := f.cli("wrong password\n", "login", "-u", user)
	assert.Equal(t, 1, res.code)
	assert.Equal(t, "cli: login failed: 401 Unauthorized (invalid_credentials: unknown user or wrong password)\n", res.stderr)
	assert.Empty(t, res.stdout)
	assert.NoFileExists(t, f.storePath)
	assert.Equal(t, 1, f.ds.Stats().LoginFailures)

	res = f.cli(password, "login", "-u", user) // no final newline
	assert.Equal(t, 0, res.code, "%+v", res)
	res = f.cli(password+"\r\n", "login", "-u", user)
	assert.Equal(t, 0, res.code, "%+v", res)
	assert.Equal(t, 2, f.ds.Stats().Logins)
	assert.Equal(t, user, f.stored().Extra(userField))

	res = f.cli("\n", "login", "-u", user)
	assert.Equal(t, 1, res.code)
	assert.Equal(t, "cli: read password from stdin: empty password\n", res.stderr)

	res = f.cli(password+"\n", "login")
	assert.Equal(t, 2, res.code)
	assert.Equal(t, "cli: login: -u USER is required when stdin is not a terminal\n", res.stderr)
	assert.Equal(t, 2, f.ds.Stats().Logins)
}

func TestDamagedStore(t *testing.T) {
	f := newFixture(t, fileMode)
	f.login()

	require.NoError(t, os.WriteFile(f.storePath, []byte("garbage"), 0o600))
	res := f.cli("", "status")
	assert.Equal(t, 3, res.code, "%+v", res)
	assert.True(t, strings.HasPrefix(res.stderr, "cli: the saved session is unreadable; run 'cli login' to replace it ("), res.stderr)
	assert.Equal(t, 1, strings.Count(res.stderr, "\n"))
	res = f.cli("", "get", "/api/damaged")
	assert.Equal(t, 3, res.code, "%+v", res)
	assert.True(t, strings.HasPrefix(res.stderr, "cli: the saved session is unreadable;"), res.stderr)

	f.login() // replaces it
	f.get("/api/repaired")

	require.NoError(t, os.Chmod(f.storePath, 0o644))
	res = f.cli("", "get", "/api/open")
	assert.Equal(t, 1, res.code, "%+v", res)
	assert.Contains(t, res.stderr, "fix with: chmod 600 "+f.storePath+"\n")
	assert.Equal(t, 1, strings.Count(res.stderr, "\n"))
	assert.Equal(t, 1, f.ds.Stats().APIRequests, "no request without a trustworthy session")
}

func TestUsage(t *testing.T) {
	f := newFixture(t, fileMode)
	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{nil, 2, "usage: cli [flags] COMMAND"},
		{[]string{"frobnicate"}, 2, `cli: unknown command "frobnicate" (want login, get, status or logout)`},
		{[]string{"get"}, 2, "cli: usage: cli get PATH (for example /api/me)"},
		{[]string{"get", "/a", "/b"}, 2, "cli: usage: cli get PATH"},
		{[]string{"status", "extra"}, 2, "cli: usage: cli status"},
		{[]string{"logout", "extra"}, 2, "cli: usage: cli logout"},
		{[]string{"login", "-x"}, 2, "flag provided but not defined: -x"},
		{[]string{"-server", "ftp://example.com", "status"}, 2, `cli: -server "ftp://example.com": want an http or https URL`},
		{[]string{"-nope", "status"}, 2, "flag provided but not defined: -nope"},
	} {
		res := f.cli("", tc.args...)
		assert.Equal(t, tc.code, res.code, "%q: %+v", tc.args, res)
		assert.Contains(t, res.stderr, tc.stderr, "%q", tc.args)
		assert.Empty(t, res.stdout, "%q", tc.args)
	}
	res := f.cli("", "help")
	assert.Equal(t, 0, res.code)
	assert.Contains(t, res.stdout, "exit codes: 0 ok, 1 error, 2 usage, 3 login required")

	f.login()
	res = f.cli("", "get", "/nothing-here")
	assert.Equal(t, 1, res.code)
	assert.Equal(t, "cli: GET /nothing-here: 404 Not Found (not_found: no endpoint at /nothing-here)\n", res.stderr)
	assert.Empty(t, res.stdout)
}

func TestServerSelection(t *testing.T) {
	mode := fileMode
	if busPlatform() {
		mode = fallbackMode // sessions are kept per server
	}
	f := newFixture(t, mode)
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	f.envServer = dead.URL

	// The flag beats the environment; a trailing slash names the same server.
	res := f.cli(password+"\n", "-server", f.url+"/", "login", "-u", user)
	require.Equal(t, 0, res.code, "%+v", res)
	assert.Contains(t, res.stdout, "Logged in to "+f.url+" as "+user+";")
	res = f.cli("", "-server", f.url, "get", "/api/flag")
	assert.Equal(t, 0, res.code, "%+v", res)

	f.envServer = ""
	f.get("/api/env")
	if mode == fallbackMode {
		f.envServer = dead.URL
		res = f.cli("", "status")
		assert.Equal(t, 3, res.code, "no session with the other server")
		assert.Contains(t, res.stdout, "Server:        "+dead.URL+"\n")
	}
	assert.Equal(t, 1, f.ds.Stats().Logins)
}

func TestKeyringFallback(t *testing.T) {
	if !busPlatform() {
		t.Skip("the keyring is not on D-Bus here")
	}
	for _, tc := range []struct {
		name  string
		noBus bool
	}{{"dead bus", false}, {"no bus", true}} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.noBus {
				// Where godbus looks when DBUS_SESSION_BUS_ADDRESS is unset.
				for _, name := range []string{"bus", "dbus-session"} {
					if _, err := os.Stat("/run/user/" + strconv.Itoa(os.Getuid()) + "/" + name); err == nil {
						t.Skip("this machine has a session bus at its default address")
					}
				}
			}
			f := newFixture(t, fallbackMode)
			f.noBus = tc.noBus
			warning := "cli: warning: OS keyring unavailable; keeping the token in a file instead: " + f.storePath + "\n"

			res := f.cli(password+"\n", "login", "-u", user)
			require.Equal(t, 0, res.code, "%+v", res)
			assert.Equal(t, warning, res.rawStderr, "one line of warning")
			if tc.noBus {
				// Rather than start a bus, which would leave daemons
				// behind and a locked keyring to time out on.
				assert.NoFileExists(t, f.launched, "the command ran dbus-launch")
			}
			fi, err := os.Stat(f.storePath)
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
			assert.Equal(t, user, f.stored().Extra(userField))

			res = f.cli("", "status")
			assert.Equal(t, 0, res.code, "%+v", res)
			assert.Equal(t, warning, res.rawStderr)
			assert.Contains(t, res.stdout, "Session store: file "+f.storePath+" (OS keyring unavailable)\n")
			f.get("/api/fallback")
			if tc.noBus {
				assert.NoFileExists(t, f.launched, "the command ran dbus-launch")
			}
		})
	}
}
