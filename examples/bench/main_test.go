package main

import (
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestQuickRun runs the quick mode and checks the targets that are counts,
// not times: this library refreshes exactly once per storm and fails no
// request, and touches the store only to refresh.
func TestQuickRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for a few seconds")
	}
	cfg := defaultConfig()
	cfg.Quick = true
	cfg.Out = t.TempDir()
	require.NoError(t, run(cfg, io.Discard))
	rep := lastReport
	require.NotNil(t, rep)
	require.FileExists(t, cfg.Out+"/results.json")
	require.FileExists(t, cfg.Out+"/results.md")
	require.FileExists(t, cfg.Out+"/expiry.svg")

	seen := map[string]int{}
	for _, r := range rep.Rows {
		seen[r.Scenario+"/"+r.Client]++
		switch {
		case r.Scenario == "storm" && r.Client == clientTokenrefresh:
			assert.Equal(t, 1, r.RefreshCalls, "storm N=%d: refresh calls", r.N)
			assert.Zero(t, r.Failed, "storm N=%d: failed requests", r.N)
			assert.NotNil(t, r.LastSuccess)
		case r.Scenario == "storm" && r.Client == clientOAuth2:
			// x/oauth2 cannot recover from a server-side revocation.
			assert.Equal(t, r.N, r.Failed, "storm N=%d: oauth2 failures", r.N)
			assert.Zero(t, r.RefreshCalls)
		case r.Scenario == "expiry" && r.Client == clientTokenrefresh:
			assert.Zero(t, r.Failed, "expiry: failed requests")
			assert.Positive(t, r.RefreshCalls, "expiry: no refresh happened")
		case r.Scenario == "expiry":
			assert.Zero(t, r.Failed, "expiry %s: failed requests", r.Client)
		case r.Scenario == "keyring":
			require.NotNil(t, r.StoreLoads)
			require.NotNil(t, r.StoreSaves)
			assert.Zero(t, r.Failed, "keyring %s: %s", r.Client, r.Note)
			switch r.RefreshCalls {
			case 0:
				if r.Requests > 1 {
					assert.Zero(t, *r.StoreLoads+*r.StoreSaves, "store touched per request: %s", r.Note)
				} else {
					assert.LessOrEqual(t, *r.StoreLoads, 1, "start")
				}
			default:
				assert.Equal(t, cfg.resolved().KeyringRefreshes, r.RefreshCalls, "%s: one refresh per revocation", r.Client)
				assert.LessOrEqual(t, *r.StoreLoads, r.RefreshCalls, "%s: loads per refresh", r.Client)
				assert.LessOrEqual(t, *r.StoreSaves, r.RefreshCalls, "%s: saves per refresh", r.Client)
			}
		}
	}
	assert.Equal(t, 2, seen["storm/"+clientTokenrefresh], "quick storms are N=10 and N=100")
	assert.Equal(t, 1, seen["expiry/"+clientTokenrefresh])
	assert.Equal(t, 3, seen["keyring/"+clientTokenrefresh])
}
