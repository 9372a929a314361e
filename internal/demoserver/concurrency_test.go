package demoserver_test

import (
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenrefresh/tokenrefresh/internal/demoserver"
)

// raceRefresh presents the same refresh token n times at once over HTTP
// and returns the answers.
func raceRefresh(h *harness, token string, n int) []result {
	start := make(chan struct{})
	results := make([]result, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			results[i], errs[i] = h.tryRefresh(token)
		})
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		require.NoError(h.t, err)
	}
	return results
}

// split separates successes from failures, checking every failure has the
// given description.
func split(t *testing.T, results []result, failureDesc string) (wins []tokens, losses int) {
	t.Helper()
	for _, r := range results {
		if r.status == http.StatusOK {
			wins = append(wins, r.tokens(t))
			continue
		}
		requireInvalidGrant(t, r, failureDesc)
		losses++
	}
	return wins, losses
}

// With rotation a refresh token is single-use however many clients race:
// exactly one wins, which is why clients need singleflight.
func TestConcurrentRefreshRotating(t *testing.T) {
	const n = 100
	h := newHarness(t, demoserver.Config{Rotate: true})
	login := h.login()

	wins, losses := split(t, raceRefresh(h, login.refresh, n), "refresh token already used")
	require.Len(t, wins, 1)
	assert.Equal(t, n-1, losses)

	// Without DetectReuse the winner's family survives the losers.
	h.requireAPIOK(wins[0].access)
	h.refresh(wins[0].refresh).tokens(t)

	st := h.srv.Stats()
	assert.Equal(t, 2, st.Refreshes)
	assert.Equal(t, n-1, st.RefreshRejected)
	assert.Equal(t, n-1, st.ReuseDetected)
}

// With reuse detection the losers' replays look like theft: the first one
// revokes the session, so even the winner is logged out.
func TestConcurrentRefreshRotatingWithReuseDetection(t *testing.T) {
	const n = 100
	h := newHarness(t, demoserver.Config{Rotate: true, DetectReuse: true})
	login := h.login()

	wins, losses := split(t, raceRefresh(h, login.refresh, n), "refresh token already used")
	require.Len(t, wins, 1)
	assert.Equal(t, n-1, losses)

	h.requireAPIRejected(wins[0].access, "access token revoked")
	requireInvalidGrant(t, h.refresh(wins[0].refresh), "refresh token revoked")

	st := h.srv.Stats()
	assert.Equal(t, 1, st.Refreshes)
	assert.Equal(t, n-1, st.ReuseDetected)
	assert.Equal(t, 1, st.SessionsRevoked)
}

// Without rotation every concurrent refresh succeeds with its own access
// token.
func TestConcurrentRefreshStatic(t *testing.T) {
	const n = 100
	h := newHarness(t, demoserver.Config{})
	login := h.login()

	wins, losses := split(t, raceRefresh(h, login.refresh, n), "")
	require.Len(t, wins, n)
	assert.Zero(t, losses)
	seen := map[string]bool{}
	for _, w := range wins {
		assert.False(t, seen[w.access], "access token issued twice")
		seen[w.access] = true
	}
	assert.Equal(t, n, h.srv.Stats().Refreshes)
}

// Mixed load for the race detector; counters must add up exactly.
func TestConcurrentMixedLoad(t *testing.T) {
	const workers, rounds = 8, 25
	h := newHarness(t, demoserver.Config{Rotate: true})
	var wg sync.WaitGroup
	for range workers {
		tok := h.login()
		wg.Go(func() {
			for range rounds {
				r, err := h.tryAPI(tok.access)
				if !assert.NoError(t, err) {
					return
				}
				if r.status == http.StatusOK {
					continue
				}
				// A concurrent RevokeAccessTokens hit us: refresh.
				r, err = h.tryRefresh(tok.refresh)
				if !assert.NoError(t, err) || !assert.Equal(t, http.StatusOK, r.status, r.raw) {
					return
				}
				tok = tokens{access: r.str("access_token"), refresh: r.str("refresh_token")}
			}
		})
	}
	wg.Go(func() {
		for range rounds {
			h.srv.RevokeAccessTokens()
			_ = h.srv.Stats()
		}
	})
	wg.Wait()

	st := h.srv.Stats()
	assert.Equal(t, workers, st.Logins)
	assert.Equal(t, workers*rounds, st.APIRequests)
	assert.Equal(t, st.API401, st.Refreshes, "every 401 was followed by one refresh")
	assert.Zero(t, st.RefreshRejected)
}
