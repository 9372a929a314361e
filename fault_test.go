package tokenrefresh

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/tokenrefresh/tokenrefresh/internal/testlog"
)

// outcome is the class of result a caller sees.
type outcome int

const (
	succeeds      outcome = iota // the request succeeds, after a retry if needed
	gets401                      // the caller gets the server's 401
	reauth                       // an error matching ErrReauthRequired
	transientFail                // a *RefreshError that is not ErrReauthRequired
	storeFail                    // the store's error, not ErrReauthRequired
)

// refreshTokenFate is what becomes of the stored refresh token.
type refreshTokenFate int

const (
	unchanged refreshTokenFate = iota
	replaced
	cleared
)

// fault is one row of the matrix.
type fault struct {
	name string
	// tokenEndpoint answers refreshes; nil issues a new token.
	tokenEndpoint http.HandlerFunc
	// resource answers API calls given whether the token is the newest; nil
	// accepts the newest token and rejects others with invalid_token.
	resource func(w http.ResponseWriter, r *http.Request, newest bool)
	// expired starts with an expired access token, so the first request
	// needs a refresh.
	expired bool
	// streamed sends a body that cannot be replayed.
	streamed bool
	// store, if set, wraps the store to inject a fault.
	store func(s *countingStore)
	// tls serves the token endpoint over TLS with a certificate the client
	// does not trust.
	tls bool

	want        outcome
	wantHits    int32 // requests at the token endpoint
	wantRT      refreshTokenFate
	wantRetryIn time.Duration // RetryAfter of the error, if any
}

func jsonError(status int, code string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":%q,"error_description":"injected %s"}`, code, code)
	}
}

func status(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { http.Error(w, http.StatusText(code), code) }
}

func faults() []fault {
	return []fault{
		// Token endpoint faults: the session survives everything but a
		// rejected refresh token.
		{name: "token 500", tokenEndpoint: status(500), expired: true, want: transientFail, wantHits: 1},
		{name: "token 502", tokenEndpoint: status(502), expired: true, want: transientFail, wantHits: 1},
		{name: "token 503 Retry-After", expired: true, want: transientFail, wantHits: 1, wantRetryIn: 120 * time.Second,
			tokenEndpoint: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "120")
				http.Error(w, "maintenance", http.StatusServiceUnavailable)
			}},
		{name: "token 429", tokenEndpoint: status(429), expired: true, want: transientFail, wantHits: 1},
		{name: "token timeout", expired: true, want: transientFail, wantHits: 1,
			tokenEndpoint: func(w http.ResponseWriter, r *http.Request) {
				// Reading the body lets the server notice the client hang up.
				_, _ = io.Copy(io.Discard, r.Body)
				<-r.Context().Done()
			}},
		{name: "token connection reset", expired: true, want: transientFail, wantHits: 1,
			tokenEndpoint: func(w http.ResponseWriter, r *http.Request) {
				conn, _, err := http.NewResponseController(w).Hijack()
				if err == nil {
					_ = conn.(*net.TCPConn).SetLinger(0)
					_ = conn.Close()
				}
			}},
		{name: "token TLS handshake failure", tls: true, tokenEndpoint: status(200), expired: true, want: transientFail, wantHits: 0},
		{name: "token malformed JSON", expired: true, want: transientFail, wantHits: 1,
			tokenEndpoint: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{"access_token": "abc", "expires_in": `)
			}},
		{name: "token HTML page", expired: true, want: transientFail, wantHits: 1,
			tokenEndpoint: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				_, _ = io.WriteString(w, "<html><body>Sign in to the Wi-Fi</body></html>")
			}},
		{name: "token empty access_token", expired: true, want: transientFail, wantHits: 1,
			tokenEndpoint: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{"access_token":"","token_type":"Bearer","expires_in":3600}`)
			}},
		{name: "token body over 1 MiB", expired: true, want: transientFail, wantHits: 1,
			tokenEndpoint: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{"access_token":"`+strings.Repeat("a", 2<<20)+`","expires_in":3600}`)
			}},
		{name: "token 400 invalid_grant", tokenEndpoint: jsonError(400, "invalid_grant"), expired: true, want: reauth, wantHits: 1, wantRT: cleared},
		{name: "token 400 invalid_request", tokenEndpoint: jsonError(400, "invalid_request"), expired: true, want: transientFail, wantHits: 1},
		{name: "token 401 invalid_client", tokenEndpoint: jsonError(401, "invalid_client"), expired: true, want: transientFail, wantHits: 1},

		// Resource faults: a valid-looking token is refused.
		{name: "resource 401 without challenge", want: succeeds, wantHits: 1, wantRT: replaced,
			resource: func(w http.ResponseWriter, r *http.Request, newest bool) {
				if !newest {
					w.WriteHeader(http.StatusUnauthorized)
				}
			}},
		{name: "resource invalid_token", want: succeeds, wantHits: 1, wantRT: replaced},
		{name: "resource DPoP challenge", want: gets401, wantHits: 0,
			resource: func(w http.ResponseWriter, r *http.Request, newest bool) {
				w.Header().Set("WWW-Authenticate", `DPoP algs="ES256", error="use_dpop_nonce"`)
				w.WriteHeader(http.StatusUnauthorized)
			}},
		{name: "resource always 401", want: gets401, wantHits: 1, wantRT: replaced,
			resource: func(w http.ResponseWriter, r *http.Request, newest bool) {
				w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
				w.WriteHeader(http.StatusUnauthorized)
			}},
		{name: "resource 401 on streamed body", streamed: true, want: gets401, wantHits: 0},

		// Store faults.
		{name: "store Save fails", expired: true, want: succeeds, wantHits: 1, wantRT: unchanged,
			store: func(s *countingStore) {
				err := errors.New("injected: keyring write failed")
				s.saveErr.Store(&err)
			}},
		{name: "store Load returns garbage", want: storeFail, wantHits: 0,
			store: func(s *countingStore) {
				err := errors.New("injected: stored token is not valid JSON")
				s.loadErr.Store(&err)
			}},
		{name: "store slow keyring", want: transientFail, wantHits: 0,
			store: func(s *countingStore) { s.hang.Store(true) }},
	}
}

func TestFaultMatrix(t *testing.T) {
	for _, f := range faults() {
		for _, kind := range []string{"json", "oauth2"} {
			t.Run(kind+"/"+f.name, func(t *testing.T) { runFault(t, f, kind) })
		}
	}
}

func runFault(t *testing.T, f fault, kind string) {
	clock := newFakeClock()
	life := time.Hour
	if f.expired {
		life = time.Second
	}
	initial := newToken(clock, life)
	// The API accepts only the newest issued token: the initial one is
	// revoked, so every request that reaches it needs a refresh.
	var newest atomic.Pointer[string]
	none := "-"
	newest.Store(&none)
	var issued []*oauth2.Token
	var hits atomic.Int32

	tokenHandler := f.tokenEndpoint
	if tokenHandler == nil {
		tokenHandler = func(w http.ResponseWriter, r *http.Request) {
			tok := newToken(clock, time.Hour)
			issued = append(issued, tok)
			newest.Store(&tok.AccessToken)
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{
				"access_token": tok.AccessToken, "refresh_token": tok.RefreshToken,
				"token_type": "Bearer", "expires_in": 3600,
			})
		}
	}
	tokenSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		tokenHandler(w, r)
	}))
	tokenSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshake failures are the point
	if f.tls {
		tokenSrv.StartTLS()
	} else {
		tokenSrv.Start()
	}
	defer tokenSrv.Close()

	resource := f.resource
	if resource == nil {
		resource = func(w http.ResponseWriter, r *http.Request, isNewest bool) {
			if !isNewest {
				w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
				w.WriteHeader(http.StatusUnauthorized)
			}
		}
	}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		resource(w, r, r.Header.Get("Authorization") == "Bearer "+*newest.Load())
	}))
	defer api.Close()

	var refresher Refresher
	httpClient := &http.Client{Transport: &http.Transport{}}
	defer httpClient.CloseIdleConnections()
	if kind == "json" {
		refresher = JSONRefresher(tokenSrv.URL, httpClient)
	} else {
		cfg := &oauth2.Config{ClientID: "cli", Endpoint: oauth2.Endpoint{TokenURL: tokenSrv.URL, AuthStyle: oauth2.AuthStyleInParams}}
		inner := OAuth2Refresher(cfg)
		refresher = RefresherFunc(func(ctx context.Context, cur *oauth2.Token) (*oauth2.Token, error) {
			return inner.Refresh(context.WithValue(ctx, oauth2.HTTPClient, httpClient), cur)
		})
	}

	store := newCountingStore(initial)
	if f.store != nil {
		f.store(store)
	}
	logs := &testlog.Buffer{}
	var reauths atomic.Int32
	src := NewSource(refresher, WithStore(store), WithClock(clock.Now), WithRefreshTimeout(200*time.Millisecond),
		WithLogger(logs.Logger(slog.LevelDebug)), OnReauth(func(error) { reauths.Add(1) }))
	client := &http.Client{Transport: &Transport{Source: src, Base: &http.Transport{}}}
	defer client.CloseIdleConnections()

	var body io.Reader = http.NoBody
	if f.streamed {
		body = io.NopCloser(strings.NewReader("streamed"))
	}
	req, err := http.NewRequest(http.MethodPost, api.URL+"/v1/thing", body)
	require.NoError(t, err)
	if f.expired {
		clock.Advance(2 * time.Second)
	}
	resp, err := client.Do(req)
	var texts []string
	if err != nil {
		texts = append(texts, err.Error())
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		texts = append(texts, string(b))
	}

	switch f.want {
	case succeeds:
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, resp.StatusCode)
	case gets401:
		require.NoError(t, err)
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	case reauth:
		require.ErrorIs(t, err, ErrReauthRequired)
		assert.EqualValues(t, 1, reauths.Load(), "OnReauth")
	case transientFail:
		var re *RefreshError
		require.ErrorAs(t, err, &re)
		assert.False(t, re.Permanent)
		assert.NotErrorIs(t, err, ErrReauthRequired)
		assert.Equal(t, f.wantRetryIn, re.RetryAfter)
		// Backing off: a second request does not reach the token endpoint.
		_, err2 := client.Get(api.URL)
		require.Error(t, err2)
		texts = append(texts, err2.Error())
	case storeFail:
		require.Error(t, err)
		assert.NotErrorIs(t, err, ErrReauthRequired)
		assert.Contains(t, err.Error(), "injected")
	}
	if f.want != reauth {
		assert.Zero(t, reauths.Load(), "OnReauth fired")
	}
	assert.Equal(t, f.wantHits, hits.Load(), "token endpoint requests")

	store.loadErr.Store(nil)
	store.hang.Store(false)
	stored, loadErr := store.MemoryStore.Load(context.Background())
	switch f.wantRT {
	case unchanged:
		require.NoError(t, loadErr)
		assert.Equal(t, initial.RefreshToken, stored.RefreshToken, "stored refresh token changed")
	case replaced:
		require.NoError(t, loadErr)
		require.NotEmpty(t, issued)
		assert.Equal(t, issued[len(issued)-1].RefreshToken, stored.RefreshToken, "stored refresh token not replaced")
	case cleared:
		require.ErrorIs(t, loadErr, ErrNoToken, "stored token not cleared")
	}

	texts = append(texts, logs.String(), src.String())
	requireNoSecrets(t, texts, append(issued, initial)...)
}
