package main

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// concurrentLine is the summary of the concurrent phase.
var concurrentLine = regexp.MustCompile(`Concurrent case: (\d+) requests at once on a revoked token: (\d+) × 401, (\d+) refresh, (\d+) succeeded\.`)

// requireOneRefresh checks the concurrent phase: n requests, 1 refresh, n
// successes. How many met the old token depends on scheduling: those sent
// after the refresh carry the new one.
func requireOneRefresh(t *testing.T, out string, n int) {
	t.Helper()
	m := concurrentLine.FindStringSubmatch(out)
	require.NotNil(t, m, out)
	got := make([]int, 4)
	for i := range got {
		got[i], _ = strconv.Atoi(m[i+1])
	}
	assert.Equal(t, n, got[0], "requests")
	assert.Equal(t, 1, got[2], "refreshes")
	assert.Equal(t, n, got[3], "successes")
	assert.GreaterOrEqual(t, got[1], 1, "401s")
	assert.LessOrEqual(t, got[1], n, "401s")
}

func runDemo(t *testing.T, args ...string) string {
	t.Helper()
	opts, err := parseFlags(args, io.Discard)
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), opts, &out))
	return out.String()
}

func TestDemoPlaysTheWholeCycle(t *testing.T) {
	out := runDemo(t)
	// Every step of the cycle, in order.
	steps := []string{
		"POST /login (username, password)", "200 access",
		"GET /api/profile (Bearer", "200 OK",
		"Access token revoked by the server",
		"401 invalid_token", "Send refresh token", "Retry with new token",
		"15m0s pass", "Send call with new token",
		"50 goroutines call the API", "1 × POST /refresh",
		"24h0m0s pass: refresh token expires", "401 invalid_grant",
		"ErrReauthRequired; OnReauth called 1×",
		"Log in again",
		"Token tracker", "Must re-login",
	}
	rest := out
	for _, s := range steps {
		i := strings.Index(rest, s)
		require.GreaterOrEqual(t, i, 0, "missing or out of order: %q\n%s", s, out)
		rest = rest[i+len(s):]
	}

	requireOneRefresh(t, out, 50)
	assert.Contains(t, out, "0 reused refresh tokens")
	assert.NotContains(t, out, "\x1b[", "colour without a terminal")
}

func TestDemoNeverPrintsAWholeToken(t *testing.T) {
	opts, err := parseFlags(nil, io.Discard)
	require.NoError(t, err)
	d := newDemo(opts)
	var out bytes.Buffer
	require.NoError(t, d.run(context.Background(), &out))
	require.NotEmpty(t, d.rec.issued)
	for _, tok := range d.rec.issued {
		if tok != "" {
			// Even a third of a token is too much to show.
			require.NotContains(t, out.String(), tok[:len(tok)/3], "a token was printed")
		}
	}
}

func TestDemoFlags(t *testing.T) {
	out := runDemo(t, "-goroutines", "200", "-rotate=false", "-access-ttl", "1h", "-refresh-ttl", "720h")
	requireOneRefresh(t, out, 200)
	assert.Contains(t, out, "rotation false")
	assert.Contains(t, out, "1h0m0s pass")
	assert.Contains(t, out, "720h0m0s pass: refresh token expires")

	for _, bad := range [][]string{
		{"-goroutines", "0"},
		{"-access-ttl", "1s"},
		{"-access-ttl", "2h", "-refresh-ttl", "1h"},
		{"-nope"},
	} {
		var stderr bytes.Buffer
		_, err := parseFlags(bad, &stderr)
		assert.Error(t, err, "%v", bad)
		assert.Contains(t, stderr.String(), "Usage", "%v", bad)
	}
}

func TestColourOnlyOnATerminalWithoutNoColor(t *testing.T) {
	assert.True(t, useColor("", true))
	assert.False(t, useColor("1", true))
	assert.False(t, useColor("", false))

	opts, err := parseFlags(nil, io.Discard)
	require.NoError(t, err)
	opts.color = true
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), opts, &out))
	assert.Contains(t, out.String(), "\x1b[33m401 invalid_token")
}
