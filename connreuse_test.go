package tokenrefresh

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/oauth2"
)

// 10,000 requests, with the token revoked every 1,000: every revocation
// costs one refresh, the 401s' bodies are drained so connections are
// reused, and nothing is left running afterwards.
func TestManyRequestsReuseConnectionsAndLeaveNoGoroutines(t *testing.T) {
	const (
		requests    = 10000
		workers     = 8
		revokeEvery = 1000
	)
	clock := newFakeClock()
	var valid atomic.Pointer[string]
	var served, revocations, conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if served.Add(1)%revokeEvery == 0 {
			valid.Store(nil)
			revocations.Add(1)
		}
		v := valid.Load()
		if v == nil || r.Header.Get("Authorization") != "Bearer "+*v {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, strings.Repeat("token revoked ", 200))
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()

	first := newToken(clock, time.Hour)
	valid.Store(&first.AccessToken)
	r := &countingRefresher{fn: func(ctx context.Context, cur *oauth2.Token) (*oauth2.Token, error) {
		tok := newToken(clock, time.Hour)
		valid.Store(&tok.AccessToken)
		return tok, nil
	}}
	base := &http.Transport{MaxIdleConnsPerHost: workers}
	client := &http.Client{Transport: &Transport{Source: NewSource(r, WithToken(first), WithClock(clock.Now)), Base: base}}

	var next atomic.Int32
	var failed atomic.Int32
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for next.Add(1) <= requests {
				resp, err := client.Get(srv.URL)
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	base.CloseIdleConnections()
	srv.Close()

	assert.Zero(t, failed.Load(), "failed requests")
	require.Positive(t, revocations.Load())
	assert.Equal(t, revocations.Load(), r.calls.Load(), "one refresh per revocation")
	assert.LessOrEqual(t, conns.Load(), int32(2*workers), "connections were not reused")
	goleak.VerifyNone(t)
}
