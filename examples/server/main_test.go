package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/tokenrefresh/tokenrefresh/internal/testlog"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseFlags(t *testing.T) {
	var stderr bytes.Buffer
	addr, cfg, err := parseFlags(nil, &stderr)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:8080", addr)
	assert.Equal(t, time.Minute, cfg.AccessTTL)
	assert.Equal(t, 24*time.Hour, cfg.RefreshTTL)
	assert.True(t, cfg.Rotate)
	assert.True(t, cfg.DetectReuse)
	assert.Equal(t, map[string]string{"demo": "demo"}, cfg.Users)
	assert.NotNil(t, cfg.Logger)

	addr, cfg, err = parseFlags([]string{
		"-addr", "127.0.0.1:0", "-access-ttl", "2s", "-refresh-ttl", "1h",
		"-rotate=false", "-detect-reuse=false", "-refresh-delay", "50ms",
		"-token-size", "800", "-client-id", "cli", "-client-secret", "sec",
	}, &stderr)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:0", addr)
	assert.Equal(t, 2*time.Second, cfg.AccessTTL)
	assert.Equal(t, time.Hour, cfg.RefreshTTL)
	assert.False(t, cfg.Rotate)
	assert.False(t, cfg.DetectReuse)
	assert.Equal(t, 50*time.Millisecond, cfg.RefreshDelay)
	assert.Equal(t, 800, cfg.AccessTokenSize)
	assert.Equal(t, "cli", cfg.ClientID)
	assert.Equal(t, "sec", cfg.ClientSecret)

	_, _, err = parseFlags([]string{"-access-ttl", "soon"}, &stderr)
	assert.Error(t, err)
	_, _, err = parseFlags([]string{"extra"}, &stderr)
	assert.Error(t, err)
}

func TestRunErrors(t *testing.T) {
	var out, errOut bytes.Buffer
	assert.NoError(t, run(context.Background(), []string{"-h"}, &out, &errOut), "-h is not a failure")
	assert.Contains(t, errOut.String(), "-access-ttl")

	err := run(context.Background(), []string{"-addr", "256.0.0.1:bad"}, &out, &errOut)
	assert.ErrorContains(t, err, "listen")
}

func TestServeAndShutdown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	base := "http://" + ln.Addr().String()
	var stdout, stderr testlog.Buffer
	_, cfg, err := parseFlags(nil, &stderr)
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, ln, cfg, &stdout) }()

	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	resp, err := client.Post(base+"/login", "application/json", strings.NewReader(`{"username":"demo","password":"demo"}`))
	require.NoError(t, err)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&tok))
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	req, err := http.NewRequest(http.MethodGet, base+"/api/hello", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err = client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	cancel()
	require.NoError(t, <-done)
	_, err = client.Get(base + "/api/hello")
	assert.Error(t, err, "server still answering after shutdown")

	banner := stdout.String()
	assert.Contains(t, banner, base)
	assert.Contains(t, banner, "demo / demo")
	assert.Contains(t, banner, "/oauth2/token")
	logs := stderr.String()
	assert.Contains(t, logs, "msg=login")
	assert.NotContains(t, logs, tok.AccessToken)
}
