package tokenrefresh

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
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
	"golang.org/x/oauth2"

	"github.com/tokenrefresh/tokenrefresh/internal/testlog"
)

func TestNoRefreshForInsufficientScopeOr403(t *testing.T) {
	for _, tc := range []struct {
		name      string
		status    int
		challenge string
	}{
		{"401 insufficient_scope", http.StatusUnauthorized, `Bearer error="insufficient_scope", scope="admin"`},
		{"403", http.StatusForbidden, `Bearer error="insufficient_scope"`},
		{"403 without challenge", http.StatusForbidden, ""},
		{"401 DPoP only", http.StatusUnauthorized, `DPoP algs="ES256"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.challenge != "" {
					w.Header().Set("WWW-Authenticate", tc.challenge)
				}
				w.WriteHeader(tc.status)
			}))
			defer srv.Close()
			r := rotating(t, clock, time.Hour)
			client := NewClient(NewSource(r, WithToken(newToken(clock, time.Hour)), WithClock(clock.Now)))
			defer client.CloseIdleConnections()
			status, _, err := get(t, client, srv.URL)
			require.NoError(t, err)
			assert.Equal(t, tc.status, status)
			assert.Zero(t, r.calls.Load(), "refreshed")
		})
	}
}

// closeTracker records whether response bodies were read to the end and closed.
type closeTracker struct {
	base   http.RoundTripper
	mu     sync.Mutex
	bodies []*trackedBody
}

type trackedBody struct {
	io.ReadCloser
	eof, closed bool
}

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *trackedBody) Close() error { b.closed = true; return b.ReadCloser.Close() }

func (c *closeTracker) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(req)
	if err == nil {
		tb := &trackedBody{ReadCloser: resp.Body}
		resp.Body = tb
		c.mu.Lock()
		c.bodies = append(c.bodies, tb)
		c.mu.Unlock()
	}
	return resp, err
}

func TestAlways401IsRetriedOnceAndTheFinal401IsReadable(t *testing.T) {
	clock := newFakeClock()
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := requests.Add(1)
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, strings.Repeat("x", 1000)+" answer "+string(rune('0'+n)))
	}))
	defer srv.Close()
	r := rotating(t, clock, time.Hour)
	tracker := &closeTracker{base: http.DefaultTransport}
	client := &http.Client{Transport: &Transport{Source: NewSource(r, WithToken(newToken(clock, time.Hour)), WithClock(clock.Now)), Base: tracker}}

	status, body, err := get(t, client, srv.URL)
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.True(t, strings.HasSuffix(body, "answer 2"), "the caller did not get the final 401's body")
	assert.EqualValues(t, 2, requests.Load())
	assert.EqualValues(t, 1, r.calls.Load())
	require.Len(t, tracker.bodies, 2)
	assert.True(t, tracker.bodies[0].eof && tracker.bodies[0].closed, "the first 401's body was not drained and closed")
}

func TestRetryReplaysBodyAndLeavesCallerRequestAlone(t *testing.T) {
	clock := newFakeClock()
	rs := newResourceServer(t)
	var bodies []string
	var mu sync.Mutex
	rs.onRequest = func(w http.ResponseWriter, r *http.Request) bool {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		return false
	}
	old := newToken(clock, time.Hour)
	r := rotating(t, clock, time.Hour)
	src := NewSource(RefresherFunc(func(ctx context.Context, cur *oauth2.Token) (*oauth2.Token, error) {
		tok, err := r.Refresh(ctx, cur)
		if err == nil {
			rs.accept(tok)
		}
		return tok, err
	}), WithToken(old), WithClock(clock.Now))
	client := NewClient(src)
	defer client.CloseIdleConnections()

	payload := bytes.Repeat([]byte("payload-\x00\xff"), 1000)
	req, err := http.NewRequest(http.MethodPost, rs.URL+"/upload", bytes.NewReader(payload))
	require.NoError(t, err)
	req.Header.Set("X-Trace", "a")
	req.Header["X-Multi"] = []string{"1", "2"}
	before := req.Header.Clone()
	origBody := req.Body

	resp, err := client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	require.Len(t, bodies, 2)
	assert.Equal(t, string(payload), bodies[0])
	assert.Equal(t, string(payload), bodies[1], "the retry's body differs")
	assert.Equal(t, before, req.Header, "the caller's headers changed")
	assert.Empty(t, req.Header.Get("Authorization"))
	assert.True(t, origBody == req.Body, "the caller's body was replaced")

	// A body that cannot be replayed is not retried: the caller gets the 401.
	rs.valid.Store(nil)
	bodies = nil
	req, err = http.NewRequest(http.MethodPost, rs.URL+"/stream", io.NopCloser(strings.NewReader("once")))
	require.NoError(t, err)
	require.Nil(t, req.GetBody)
	resp, err = client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Len(t, bodies, 1)
}

// hostDialer sends every connection to one loopback server, whatever the
// host name in the URL, so tests can use real host names without DNS.
func hostDialer(addr string) *http.Transport {
	return &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
}

func TestTokenFollowsRedirectsOnlyWithinTheOriginalHost(t *testing.T) {
	clock := newFakeClock()
	tok := newToken(clock, time.Hour)
	var mu sync.Mutex
	authByHost := map[string]string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		authByHost[r.Host+r.URL.Path] = r.Header.Get("Authorization")
		mu.Unlock()
		if to := r.URL.Query().Get("to"); to != "" {
			http.Redirect(w, r, to, http.StatusFound)
		}
	}))
	defer srv.Close()
	base := hostDialer(srv.Listener.Addr().String())
	defer base.CloseIdleConnections()
	client := &http.Client{Transport: &Transport{Source: NewSource(rotating(t, clock, time.Hour), WithToken(tok), WithClock(clock.Now)), Base: base}}

	for _, tc := range []struct {
		from, to string
		sent     bool
	}{
		{"http://api.example.com/a", "http://api.example.com/same", true},
		{"http://api.example.com/b", "http://eu.api.example.com/sub", true},
		{"http://api.example.com/c", "http://evil.example.net/other", false},
		{"http://api.example.com/d", "http://example.com/parent", false},
		{"http://api.example.com/e", "http://api.example.com.evil.net/suffix", false},
	} {
		_, _, err := get(t, client, tc.from+"?to="+tc.to)
		require.NoError(t, err)
		mu.Lock()
		first := authByHost[strings.TrimPrefix(tc.from, "http://")]
		got := authByHost[strings.TrimPrefix(tc.to, "http://")]
		mu.Unlock()
		assert.Equal(t, "Bearer "+tok.AccessToken, first, tc.from)
		if tc.sent {
			assert.Equal(t, "Bearer "+tok.AccessToken, got, "redirect to %s", tc.to)
		} else {
			assert.Empty(t, got, "the token was sent to %s", tc.to)
		}
	}
}

func TestCrossHostRedirectOverLoopback(t *testing.T) {
	clock := newFakeClock()
	tok := newToken(clock, time.Hour)
	var otherAuth atomic.Pointer[string]
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := r.Header.Get("Authorization")
		otherAuth.Store(&v)
	}))
	defer other.Close()
	// The same machine under another name is another host to the client.
	otherURL := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	origin := httptest.NewServer(http.RedirectHandler(otherURL+"/landing", http.StatusFound))
	defer origin.Close()
	client := NewClient(NewSource(rotating(t, clock, time.Hour), WithToken(tok), WithClock(clock.Now)))
	defer client.CloseIdleConnections()

	status, _, err := get(t, client, origin.URL)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, status)
	got := otherAuth.Load()
	require.NotNil(t, got, "the redirect was not followed")
	assert.Empty(t, *got, "the other host received the token")
}

func TestAllowedHostsLimitWhereTheTokenGoes(t *testing.T) {
	clock := newFakeClock()
	tok := newToken(clock, time.Hour)
	var mu sync.Mutex
	auth := map[string]string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth[r.Host] = r.Header.Get("Authorization")
		mu.Unlock()
	}))
	defer srv.Close()
	base := hostDialer(srv.Listener.Addr().String())
	defer base.CloseIdleConnections()
	client := &http.Client{Transport: &Transport{
		Source:       NewSource(rotating(t, clock, time.Hour), WithToken(tok), WithClock(clock.Now)),
		Base:         base,
		AllowedHosts: []string{"api.example.com"},
	}}
	for _, host := range []string{"api.example.com", "v2.API.example.com", "example.com", "other.net"} {
		_, _, err := get(t, client, "http://"+host+"/x")
		require.NoError(t, err)
	}
	assert.Equal(t, map[string]string{
		"api.example.com":    "Bearer " + tok.AccessToken,
		"v2.API.example.com": "Bearer " + tok.AccessToken,
		"example.com":        "",
		"other.net":          "",
	}, auth)
}

// The token endpoint is reached through a client whose Transport is the
// refreshing Transport itself, and answers 401: no recursion, no deadlock.
func TestRefreshRequestsBypassTheTransport(t *testing.T) {
	clock := newFakeClock()
	var tokenAuth atomic.Pointer[string]
	tokenEndpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := r.Header.Get("Authorization")
		tokenAuth.Store(&v)
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		http.Error(w, `{"error":"invalid_grant"}`, http.StatusUnauthorized)
	}))
	defer tokenEndpoint.Close()
	rs := newResourceServer(t)

	tr := &Transport{}
	client := &http.Client{Transport: tr}
	defer client.CloseIdleConnections()
	tr.Source = NewSource(JSONRefresher(tokenEndpoint.URL, client), WithToken(newToken(clock, time.Hour)), WithClock(clock.Now))

	done := make(chan error, 1)
	go func() { _, _, err := get(t, client, rs.URL); done <- err }()
	select {
	case err := <-done:
		require.ErrorIs(t, err, ErrReauthRequired)
	case <-time.After(10 * time.Second):
		t.Fatal("deadlock: the refresh went through the refreshing transport")
	}
	got := tokenAuth.Load()
	require.NotNil(t, got)
	assert.Empty(t, *got, "the token request carried the access token")
}

func TestReauthRequiredThroughHTTPClient(t *testing.T) {
	clock := newFakeClock()
	rs := newResourceServer(t)
	tokenEndpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":"invalid_grant","error_description":"refresh token revoked"}`)
	}))
	defer tokenEndpoint.Close()
	tok := newToken(clock, time.Hour)
	var reauth atomic.Int32
	logs := &testlog.Buffer{}
	client := NewClient(NewSource(JSONRefresher(tokenEndpoint.URL, nil), WithToken(tok), WithClock(clock.Now),
		WithLogger(logs.Logger(slog.LevelDebug)), OnReauth(func(error) { reauth.Add(1) })))
	defer client.CloseIdleConnections()
	defer http.DefaultClient.CloseIdleConnections()

	_, _, err := get(t, client, rs.URL)
	require.ErrorIs(t, err, ErrReauthRequired)
	var uerr interface{ Unwrap() error }
	require.True(t, errors.As(err, &uerr), "not a *url.Error")
	var re *RefreshError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, http.StatusBadRequest, re.StatusCode)
	assert.Contains(t, err.Error(), "refresh token revoked")
	assert.EqualValues(t, 1, reauth.Load())
	requireNoSecrets(t, []string{err.Error(), logs.String()}, tok)
}

func TestTransportWithoutSourceIsAClearError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	_, err := (&http.Client{Transport: &Transport{}}).Get(srv.URL)
	require.ErrorContains(t, err, "Transport.Source is nil")
}

// More requests get a 401 than the client has connections, and the token
// endpoint is reached through the same pool: each 401 must give its
// connection back before waiting for the refresh, or the refresh starves.
func TestStormLargerThanTheConnectionPool(t *testing.T) {
	const requests, conns = 32, 4
	clock := newFakeClock()
	old := newToken(clock, time.Hour)
	var valid atomic.Pointer[string]
	revoked := "-"
	valid.Store(&revoked)
	mux := http.NewServeMux()
	mux.HandleFunc("/refresh", func(w http.ResponseWriter, r *http.Request) {
		tok := newToken(clock, time.Hour)
		valid.Store(&tok.AccessToken)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"`+tok.AccessToken+`","expires_in":3600}`)
	})
	mux.HandleFunc("/api", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+*valid.Load() {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, "revoked")
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	pool := &http.Transport{MaxConnsPerHost: conns}
	defer pool.CloseIdleConnections()
	r := &countingRefresher{fn: JSONRefresher(srv.URL+"/refresh", &http.Client{Transport: pool}).Refresh}
	client := &http.Client{Transport: &Transport{
		Source: NewSource(r, WithToken(old), WithClock(clock.Now), WithRefreshTimeout(5*time.Second)),
		Base:   pool,
	}}

	var wg sync.WaitGroup
	var ok atomic.Int32
	for range requests {
		wg.Go(func() {
			status, _, err := get(t, client, srv.URL+"/api")
			if assert.NoError(t, err) && assert.Equal(t, http.StatusOK, status) {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	assert.EqualValues(t, requests, ok.Load())
	assert.EqualValues(t, 1, r.calls.Load())
}

// An IPv6 literal's zone may contain dots, so "fe80::1%.example.com" ends in
// ".example.com" without being a subdomain of it (the pattern of Go's
// CVE-2023-45289). Neither the allow-list nor a redirect sends it the token;
// an address still matches itself.
func TestIPv6ZoneIsNotASubdomain(t *testing.T) {
	request := func(rawURL string, redirectedFrom string) *http.Request {
		req, err := http.NewRequest(http.MethodGet, rawURL, nil)
		require.NoError(t, err)
		if redirectedFrom != "" {
			orig, err := http.NewRequest(http.MethodGet, redirectedFrom, nil)
			require.NoError(t, err)
			req.Response = &http.Response{Request: orig}
		}
		return req
	}
	allowList := &Transport{AllowedHosts: []string{"example.com", "fe80::1"}}
	for _, tc := range []struct {
		tr       *Transport
		url      string
		redirect string // the original request's URL, if redirected
		sent     bool
	}{
		{allowList, "https://[::1%25.example.com]/", "", false},
		{allowList, "https://[fe80::1%25.api.example.com]:8443/x", "", false},
		{&Transport{}, "https://[fe80::1%25.www.example.com]/", "https://www.example.com/", false},
		{allowList, "https://[fe80::1]:8443/x", "", true},
		{&Transport{}, "https://[fe80::1%25eth0]/b", "https://[fe80::1%25eth0]/a", true},
	} {
		assert.Equal(t, tc.sent, tc.tr.sendsTokenTo(request(tc.url, tc.redirect)), "%s (from %q)", tc.url, tc.redirect)
	}
}
