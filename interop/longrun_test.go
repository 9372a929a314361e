package interop

import (
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/tokenrefresh/tokenrefresh"
)

// TestLongRun keeps steady traffic going for five access token lifetimes
// against fosite's own clock (fosite reads time.Now and takes no clock, so
// the tokens really expire). With the early-refresh window, every token
// must be refreshed exactly once, in the background, before it is stale,
// no request may fail, and no expired token may reach the resource server.
//
// It runs against two token rotation policies. fosite's MemoryStore
// revokes the old access token the moment it rotates the refresh token, so
// requests sent with it while the refresh is on the wire get 401: at most
// one per worker per refresh, since a worker that got one waits for the
// refresh before its next request; the Transport cures each with the new
// token, without another refresh. With the old access token left valid
// until it expires, the resource server must see no 401 at all.
func TestLongRun(t *testing.T) {
	for _, tc := range []struct {
		name string
		keep bool
	}{
		{name: "fosite rotation", keep: false},
		{name: "access token kept", keep: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			longRun(t, tc.keep)
		})
	}
}

func longRun(t *testing.T, keepAccessToken bool) {
	const (
		lifespan  = 2 * time.Second // fosite's; expires_in is then 1 or 2, see Config
		lifetimes = 5
		leeway    = 300 * time.Millisecond
		early     = 200 * time.Millisecond
		workers   = 8
	)
	srv := newServer(t, Config{AccessTokenLifespan: lifespan, KeepAccessTokenOnRotation: keepAccessToken})
	store := tokenrefresh.NewMemoryStore(nil)
	refresher := &timedRefresher{r: tokenrefresh.OAuth2Refresher(srv.OAuth2Config())}
	src := tokenrefresh.NewSource(refresher,
		tokenrefresh.WithStore(store),
		tokenrefresh.WithLeeway(leeway),
		tokenrefresh.WithEarlyRefresh(early),
	)
	client := newClient(t, src)
	loginTok := login(t, srv, src)

	start := time.Now()
	deadline := start.Add(lifetimes * lifespan)
	var requests, failures atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				resp, err := client.Get(srv.URL + PathData)
				requests.Add(1)
				if err != nil {
					if failures.Add(1) == 1 {
						t.Errorf("first failed request: %v", err)
					}
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					if failures.Add(1) == 1 {
						t.Errorf("first failed request: status %d", resp.StatusCode)
					}
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)

	st := srv.Stats()
	grants := srv.RefreshGrants()
	calls := refresher.record()
	assert.Zero(t, failures.Load(), "failed requests")
	assert.Equal(t, int(requests.Load()), st.Resource200, "requests answered 200")
	assert.Equal(t, st.Resource200+st.Resource401, st.Resource, "resource requests: one per request plus one retry per 401")
	assert.Zero(t, st.Resource401Expired, "401s for expired tokens")
	if keepAccessToken {
		assert.Zero(t, st.Resource401, "401s at the resource server")
	} else {
		assert.LessOrEqual(t, st.Resource401, workers*st.RefreshOK, "401s for access tokens revoked by rotation")
	}
	assert.Zero(t, st.RefreshTokensReplayed, "refresh tokens presented twice")
	assert.Zero(t, st.ReuseDetections, "fosite reuse detections")
	assert.Equal(t, st.RefreshGrants, st.RefreshOK, "failed refresh grants")

	// One refresh per lifetime, in the early-refresh window. A token
	// received with expires_in e (1s or 2s: the leeway and window are below
	// half and a quarter of e, so they apply in full) is served alone until
	// e-leeway-early, then refreshed once in the background while still
	// served; from e-leeway on, callers would wait for a refresh. The
	// Source reads its clock for e right after the previous refresh
	// returned, and so after fosite answered it. Hence:
	//  - at fosite, each grant arrives more than e-leeway-early after the
	//    previous one was answered: refreshing a token twice, or too
	//    early, breaks this;
	//  - at the Refresher, each call starts more than e-leeway-early after
	//    the previous call returned: never before the window. How soon
	//    after it opens depends on the scheduler, so it is logged, not
	//    asserted: timing belongs in benchmarks.
	require.Len(t, calls, len(grants), "Refresher calls vs refresh grants at fosite")
	covered := time.Duration(loginTok.ExpiresIn) * time.Second
	var lateMax time.Duration // how far into the window refreshes started
	for i := range grants {
		if i > 0 {
			e := time.Duration(grants[i-1].ExpiresIn) * time.Second
			require.Positive(t, e, "expires_in of the token before refresh %d", i)
			assert.Greater(t, grants[i].At.Sub(grants[i-1].Answered), e-leeway-early,
				"refresh grant %d arrived too early after the previous one: refreshed too early or twice", i)
			gap := calls[i].start.Sub(calls[i-1].end)
			assert.Greater(t, gap, e-leeway-early, "refresh %d started before the early window", i)
			lateMax = max(lateMax, gap-(e-leeway-early))
		}
		covered += time.Duration(grants[i].ExpiresIn) * time.Second
	}
	// Traffic ran for five of fosite's lifespans, at most 2s each as the
	// client sees them, so at least four refreshes were due; the gaps
	// bound the count from above.
	assert.GreaterOrEqual(t, len(grants), lifetimes-1, "refresh grants")
	// The lifetimes of the tokens handed out cover the run.
	assert.GreaterOrEqual(t, covered, elapsed, "token lifetimes issued vs run time")

	t.Logf("%s of traffic, %d workers: %d requests, %d refresh grants (login expires_in %ds, then %v), "+
		"started at most %v into the %v window, lifetimes issued %v, %d 401s (%d expired)",
		elapsed.Round(time.Millisecond), workers, requests.Load(), len(grants), loginTok.ExpiresIn, expiresIns(grants),
		lateMax.Round(100*time.Microsecond), early, covered, st.Resource401, st.Resource401Expired)
}

func expiresIns(gs []RefreshGrant) []int64 {
	out := make([]int64, len(gs))
	for i, g := range gs {
		out[i] = g.ExpiresIn
	}
	return out
}

// timedRefresher records when each call to the Refresher it wraps started
// and returned, on the clock the Source uses.
type timedRefresher struct {
	r     tokenrefresh.Refresher
	mu    sync.Mutex
	calls []refresherCall
}

type refresherCall struct{ start, end time.Time }

func (tr *timedRefresher) Refresh(ctx context.Context, current *oauth2.Token) (*oauth2.Token, error) {
	start := time.Now()
	tok, err := tr.r.Refresh(ctx, current)
	end := time.Now()
	tr.mu.Lock()
	tr.calls = append(tr.calls, refresherCall{start, end})
	tr.mu.Unlock()
	return tok, err
}

func (tr *timedRefresher) record() []refresherCall {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]refresherCall(nil), tr.calls...)
}
