package interop

import (
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/oauth2"

	"github.com/tokenrefresh/tokenrefresh"
	"github.com/tokenrefresh/tokenrefresh/internal/fakeclock"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func newServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	srv, err := NewServer(cfg)
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	return srv
}

// newClient returns an http.Client whose requests are authorised by src
// through tokenrefresh.Transport, on a transport of its own that is closed
// when the test ends.
func newClient(t *testing.T, src *tokenrefresh.Source) *http.Client {
	t.Helper()
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.MaxIdleConnsPerHost = 128
	t.Cleanup(base.CloseIdleConnections)
	return &http.Client{Transport: &tokenrefresh.Transport{
		Source:       src,
		Base:         base,
		AllowedHosts: []string{"127.0.0.1"},
	}}
}

// login logs in at srv and starts src's session with the token.
func login(t *testing.T, srv *Server, src *tokenrefresh.Source) *oauth2.Token {
	t.Helper()
	tok, err := srv.Login(t.Context())
	require.NoError(t, err)
	require.NotEmpty(t, tok.RefreshToken, "fosite issued no refresh token")
	// x/oauth2 set Expiry on the real clock, but the tests move the
	// Source's clock: let the Source take expires_in on its own clock.
	tok.Expiry = time.Time{}
	require.NoError(t, src.SetToken(t.Context(), tok))
	return tok
}

// current returns src's token without refreshing it: call it only while
// the token is fresh on src's clock.
func current(t *testing.T, src *tokenrefresh.Source) *oauth2.Token {
	t.Helper()
	tok, err := src.TokenContext(t.Context())
	require.NoError(t, err)
	return tok
}

// get sends one GET and returns the status, draining the body.
func get(t *testing.T, c *http.Client, url string) (int, http.Header) {
	t.Helper()
	resp, err := c.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header
}

// A result is the outcome of one request of a burst.
type result struct {
	status int
	err    error
}

// burst sends n GETs to url at once: every goroutine builds its request,
// then waits at a gate that opens when all are ready.
func burst(ctx context.Context, c *http.Client, url string, n int) []result {
	out := make([]result, n)
	var ready, done sync.WaitGroup
	gate := make(chan struct{})
	for i := range n {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			ready.Done()
			if err != nil {
				out[i].err = err
				return
			}
			<-gate
			resp, err := c.Do(req)
			if err != nil {
				out[i].err = err
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			out[i].status = resp.StatusCode
		}()
	}
	ready.Wait()
	close(gate)
	done.Wait()
	return out
}

// newManualClock returns a clock for the client side that moves only when
// told. It starts at the real time, so that tokens from fosite, which keeps
// real time, are equally fresh on both sides.
func newManualClock() *fakeclock.Clock { return fakeclock.New(time.Now()) }

// reauthRecorder counts OnReauth calls.
type reauthRecorder struct {
	calls atomic.Int32
	mu    sync.Mutex
	err   error
}

func (r *reauthRecorder) record(err error) {
	r.calls.Add(1)
	r.mu.Lock()
	r.err = err
	r.mu.Unlock()
}

func (r *reauthRecorder) last() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}
