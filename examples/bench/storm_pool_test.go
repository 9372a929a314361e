package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStormWithBoundedPool is a storm larger than the client's connection
// pool (http.Transport.MaxConnsPerHost), which the refresh request shares,
// as it does when one client serves both the API and its token endpoint.
func TestStormWithBoundedPool(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for a few seconds")
	}
	if !boundedPoolFixed {
		t.Skip("known failure: Transport.RoundTrip keeps each 401 response, and so its connection, " +
			"open while it waits for the refresh, which then cannot get a connection; " +
			"see PERFORMANCE.md. Set boundedPoolFixed once transport.go discards the 401 before Source.reject.")
	}
	cfg := defaultConfig()
	cfg.MaxConns = 8
	cfg.Timeout = 3 * time.Second
	row, err := runStorm(cfg, clientTokenrefresh, 100)
	require.NoError(t, err)
	assert.Equal(t, 1, row.RefreshCalls, row.Note)
	assert.Zero(t, row.Failed, row.Note)
}

// boundedPoolFixed says whether transport.go frees a 401's connection
// before waiting for the refresh.
const boundedPoolFixed = false
