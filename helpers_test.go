package tokenrefresh

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/tokenrefresh/tokenrefresh/internal/fakeclock"
)

// newFakeClock returns a clock that moves only when told to.
func newFakeClock() *fakeclock.Clock {
	return fakeclock.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
}

// secret returns a distinctive random value, so tests can search logs and
// errors for it.
func secret(prefix string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// newToken returns a token with fresh random values, expiring after life
// on clock c (no expiry if life is 0).
func newToken(c *fakeclock.Clock, life time.Duration) *oauth2.Token {
	tok := &oauth2.Token{AccessToken: secret("at"), RefreshToken: secret("rt"), TokenType: "Bearer"}
	if life > 0 {
		tok.Expiry = c.Now().Add(life)
	}
	return tok
}

// countingRefresher counts calls and delegates to fn.
type countingRefresher struct {
	calls atomic.Int32
	fn    func(ctx context.Context, cur *oauth2.Token) (*oauth2.Token, error)
}

func (r *countingRefresher) Refresh(ctx context.Context, cur *oauth2.Token) (*oauth2.Token, error) {
	r.calls.Add(1)
	return r.fn(ctx, cur)
}

// rotating returns a refresher that issues a new access and refresh token of
// the given lifetime each call, and reports reuse of a spent refresh token
// as a test failure.
func rotating(t *testing.T, c *fakeclock.Clock, life time.Duration) *countingRefresher {
	var mu sync.Mutex
	spent := map[string]bool{}
	return &countingRefresher{fn: func(ctx context.Context, cur *oauth2.Token) (*oauth2.Token, error) {
		mu.Lock()
		defer mu.Unlock()
		if spent[cur.RefreshToken] {
			t.Errorf("refresh token sent twice")
			return nil, permanent(400, "invalid_grant", nil)
		}
		spent[cur.RefreshToken] = true
		return newToken(c, life), nil
	}}
}

// requireNoSecrets fails if any of the token values appears in texts.
func requireNoSecrets(t *testing.T, texts []string, toks ...*oauth2.Token) {
	t.Helper()
	for _, text := range texts {
		for _, tok := range toks {
			if tok == nil {
				continue
			}
			for _, v := range []string{tok.AccessToken, tok.RefreshToken} {
				if v != "" {
					require.NotContains(t, text, v, "a token value leaked")
				}
			}
		}
	}
}

// resourceServer accepts exactly one access token at a time, like an API
// whose tokens the authorisation server can revoke.
type resourceServer struct {
	*httptest.Server
	valid    atomic.Pointer[string]
	requests atomic.Int32
	rejected atomic.Int32
	// seen records the Authorization header of every accepted request.
	mu   sync.Mutex
	seen []string
	// onRequest, if set, runs first for every request.
	onRequest func(w http.ResponseWriter, r *http.Request) bool
}

func newResourceServer(t *testing.T) *resourceServer {
	rs := &resourceServer{}
	rs.Server = httptest.NewServer(http.HandlerFunc(rs.serve))
	t.Cleanup(rs.Close)
	return rs
}

func (rs *resourceServer) accept(tok *oauth2.Token) { v := tok.AccessToken; rs.valid.Store(&v) }

func (rs *resourceServer) serve(w http.ResponseWriter, r *http.Request) {
	rs.requests.Add(1)
	if rs.onRequest != nil && rs.onRequest(w, r) {
		return
	}
	got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if v := rs.valid.Load(); v == nil || got != *v {
		rs.rejected.Add(1)
		w.Header().Set("WWW-Authenticate", `Bearer realm="test", error="invalid_token"`)
		http.Error(w, "invalid token", http.StatusUnauthorized)
		return
	}
	rs.mu.Lock()
	rs.seen = append(rs.seen, got)
	rs.mu.Unlock()
	_, _ = w.Write([]byte("ok"))
}

func (rs *resourceServer) accepted() []string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([]string(nil), rs.seen...)
}

// get sends a GET through client and returns the status and body.
func get(t *testing.T, client *http.Client, url string) (int, string, error) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String(), err
}

// countingStore wraps a MemoryStore and counts its calls; errors injected
// into save or load are returned instead of the real result.
type countingStore struct {
	*MemoryStore
	loads, saves, deletes atomic.Int32
	saveErr, loadErr      atomic.Pointer[error]
	hang                  atomic.Bool // Load blocks until its context ends, like a hung keyring
	onSave                func(tok *oauth2.Token)
}

func newCountingStore(tok *oauth2.Token) *countingStore {
	return &countingStore{MemoryStore: NewMemoryStore(tok)}
}

func (s *countingStore) Load(ctx context.Context) (*oauth2.Token, error) {
	s.loads.Add(1)
	if s.hang.Load() {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if e := s.loadErr.Load(); e != nil {
		return nil, *e
	}
	return s.MemoryStore.Load(ctx)
}

func (s *countingStore) Save(ctx context.Context, tok *oauth2.Token) error {
	s.saves.Add(1)
	if e := s.saveErr.Load(); e != nil {
		return *e
	}
	if s.onSave != nil {
		s.onSave(tok)
	}
	return s.MemoryStore.Save(ctx, tok)
}

func (s *countingStore) Delete(ctx context.Context) error {
	s.deletes.Add(1)
	return s.MemoryStore.Delete(ctx)
}
