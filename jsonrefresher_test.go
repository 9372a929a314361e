package tokenrefresh

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// jrSecret returns a distinctive random value to search error strings for.
// It includes '/' and '+' as base64 tokens do.
func jrSecret(prefix string) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return prefix + "/" + hex.EncodeToString(b) + "+x"
}

// jrCurrent is the token being refreshed.
func jrCurrent() *oauth2.Token {
	return &oauth2.Token{AccessToken: jrSecret("old-at"), RefreshToken: jrSecret("rt"), TokenType: "Bearer"}
}

// jrRequest is what the test server saw.
type jrRequest struct {
	method, path, contentType, accept string
	body                              []byte
}

// jrServer serves a token endpoint with h, recording requests. The
// refresh token that the client sent is available to h, so that error
// answers can echo it.
func jrServer(t *testing.T, h func(w http.ResponseWriter, sentRT string)) (*httptest.Server, <-chan jrRequest) {
	t.Helper()
	reqs := make(chan jrRequest, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		reqs <- jrRequest{r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("Accept"), body}
		var in struct {
			RefreshToken string `json:"refresh_token"`
		}
		_ = json.Unmarshal(body, &in)
		h(w, in.RefreshToken)
	}))
	t.Cleanup(srv.Close)
	return srv, reqs
}

// jrRefresh runs a JSONRefresher against srv.
func jrRefresh(t *testing.T, srv *httptest.Server, cur *oauth2.Token) (*oauth2.Token, error) {
	t.Helper()
	return JSONRefresher(srv.URL+"/token", srv.Client()).Refresh(context.Background(), cur)
}

// jrRequireNoSecrets fails if err's text shows a token value.
func jrRequireNoSecrets(t *testing.T, err error, toks ...*oauth2.Token) {
	t.Helper()
	require.Error(t, err)
	for _, text := range []string{err.Error(), strings.ReplaceAll(err.Error(), `\/`, "/")} {
		for _, tok := range toks {
			for _, v := range []string{tok.AccessToken, tok.RefreshToken} {
				if v != "" {
					require.NotContains(t, text, v, "a token value leaked into the error")
				}
			}
		}
	}
}

func TestJSONRefresherRequestShape(t *testing.T) {
	srv, reqs := jrServer(t, func(w http.ResponseWriter, _ string) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"new"}`)
	})
	cur := jrCurrent()
	_, err := jrRefresh(t, srv, cur)
	require.NoError(t, err)

	req := <-reqs
	assert.Equal(t, http.MethodPost, req.method)
	assert.Equal(t, "/token", req.path)
	assert.Equal(t, "application/json", req.contentType)
	assert.Equal(t, "application/json", req.accept)
	want, err := json.Marshal(map[string]string{"refresh_token": cur.RefreshToken})
	require.NoError(t, err)
	assert.JSONEq(t, string(want), string(req.body))
	assert.Empty(t, reqs, "more than one request")
}

func TestJSONRefresherSuccess(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		body        string // %AT% and %RT% stand for the new tokens
		rotated     bool
		tokenType   string
		expiresIn   int64
	}{
		{"rotated", "application/json", `{"access_token":"%AT%","refresh_token":"%RT%","token_type":"Bearer","expires_in":3600}`, true, "Bearer", 3600},
		{"not rotated", "application/json", `{"access_token":"%AT%","token_type":"Bearer","expires_in":3600}`, false, "Bearer", 3600},
		{"expires_in string", "application/json; charset=utf-8", `{"access_token":"%AT%","refresh_token":"%RT%","expires_in":"3600"}`, true, "", 3600},
		{"expires_in float", "application/json", `{"access_token":"%AT%","expires_in":3599.9}`, false, "", 3599},
		{"expires_in absent", "application/json", `{"access_token":"%AT%","token_type":"bearer"}`, false, "bearer", 0},
		{"expires_in null", "application/json", `{"access_token":"%AT%","expires_in":null}`, false, "", 0},
		{"expires_in zero", "application/json", `{"access_token":"%AT%","expires_in":0}`, false, "", 0},
		{"json suffix media type", "application/vnd.example+json", `{"access_token":"%AT%","expires_in":60}`, false, "", 60},
		{"JSON without its Content-Type", "text/plain; charset=utf-8", `{"access_token":"%AT%","expires_in":60}`, false, "", 60},
		{"extra fields", "application/json", `{"access_token":"%AT%","refresh_token":"%RT%","id_token":"x.y.z","scope":"a b","refresh_expires_in":1800,"expires_in":300}`, true, "", 300},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			newAT, newRT := jrSecret("new-at"), jrSecret("new-rt")
			body := strings.NewReplacer("%AT%", newAT, "%RT%", newRT).Replace(tt.body)
			srv, _ := jrServer(t, func(w http.ResponseWriter, _ string) {
				w.Header().Set("Content-Type", tt.contentType)
				_, _ = io.WriteString(w, body)
			})
			before := time.Now()
			tok, err := jrRefresh(t, srv, jrCurrent())
			after := time.Now()
			require.NoError(t, err)
			assert.Equal(t, newAT, tok.AccessToken)
			if tt.rotated {
				assert.Equal(t, newRT, tok.RefreshToken)
			} else {
				assert.Empty(t, tok.RefreshToken, "an unrotated answer must leave RefreshToken empty so the Source keeps the current one")
			}
			assert.Equal(t, tt.tokenType, tok.TokenType)
			assert.Equal(t, tt.expiresIn, tok.ExpiresIn)
			if tt.expiresIn == 0 {
				assert.True(t, tok.Expiry.IsZero(), "expiry %v without expires_in", tok.Expiry)
			} else {
				life := time.Duration(tt.expiresIn) * time.Second
				assert.False(t, tok.Expiry.Before(before.Add(life)), "expiry %v too early", tok.Expiry)
				assert.False(t, tok.Expiry.After(after.Add(life)), "expiry %v too late", tok.Expiry)
			}
		})
	}
}

func TestJSONRefresherNilClientUsesDefault(t *testing.T) {
	srv, _ := jrServer(t, func(w http.ResponseWriter, _ string) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"new"}`)
	})
	tok, err := JSONRefresher(srv.URL, nil).Refresh(context.Background(), jrCurrent())
	require.NoError(t, err)
	assert.Equal(t, "new", tok.AccessToken)
	// srv.Close closes http.DefaultTransport's idle connections.
}

// TestJSONRefresherErrors runs error answers. In the bodies and headers,
// %RT% stands for the refresh token the client sent, as a server that
// echoes its input would put it, and %RTESC% for it with "/" escaped.
func TestJSONRefresherErrors(t *testing.T) {
	retryDate := time.Now().Add(2 * time.Minute).UTC().Format(http.TimeFormat)
	tests := []struct {
		name        string
		status      int
		header      map[string]string
		body        string
		permanent   bool
		errorCode   string
		retryMin    time.Duration
		retryMax    time.Duration
		errContains string
	}{
		// Rejections of the refresh token.
		{name: "400 invalid_grant", status: 400, body: `{"error":"invalid_grant","error_description":"Token has been expired or revoked."}`,
			permanent: true, errorCode: "invalid_grant", errContains: "Token has been expired or revoked."},
		{name: "401 invalid_grant", status: 401, body: `{"error":"invalid_grant"}`, permanent: true, errorCode: "invalid_grant"},
		{name: "400 without body", status: 400, permanent: true},
		{name: "401 text body", status: 401, header: map[string]string{"Content-Type": "text/plain"}, body: "unauthorized", permanent: true},
		{name: "400 echoes in description", status: 400, body: `{"error":"invalid_grant","error_description":"refresh token %RT% is revoked"}`,
			permanent: true, errorCode: "invalid_grant", errContains: "refresh token [redacted] is revoked"},
		{name: "400 echoes in error", status: 400, body: `{"error":"%RT%"}`, permanent: true, errorCode: "[redacted]"},
		{name: "400 echoes escaped", status: 400, body: `{"error":"invalid_grant","error_description":"unknown token %RTESC%"}`,
			permanent: true, errorCode: "invalid_grant", errContains: "unknown token [redacted]"},
		{name: "401 echoes in text body", status: 401, body: `no such refresh token: %RT%`, permanent: true},
		{name: "400 error not a string", status: 400, body: `{"error":{"code":"%RT%"}}`, permanent: true},

		// Transient failures.
		{name: "500", status: 500, body: `internal error handling %RT%`},
		{name: "500 json", status: 500, body: `{"error":"server_error","error_description":"db down while looking up %RT%"}`, errorCode: "server_error"},
		{name: "502 html", status: 502, header: map[string]string{"Content-Type": "text/html"}, body: `<html><body>Bad Gateway</body></html>`},
		{name: "503 retry seconds", status: 503, header: map[string]string{"Retry-After": "30"}, retryMin: 30 * time.Second, retryMax: 30 * time.Second},
		{name: "503 retry date", status: 503, header: map[string]string{"Retry-After": retryDate}, retryMin: 100 * time.Second, retryMax: 2 * time.Minute},
		{name: "429 retry seconds", status: 429, header: map[string]string{"Retry-After": "7"}, body: `{"error":"slow_down"}`,
			errorCode: "slow_down", retryMin: 7 * time.Second, retryMax: 7 * time.Second},
		{name: "429 retry date", status: 429, header: map[string]string{"Retry-After": retryDate}, retryMin: 100 * time.Second, retryMax: 2 * time.Minute},
		{name: "429 bad retry", status: 429, header: map[string]string{"Retry-After": "soon"}},

		// Other statuses keep the refresh token.
		{name: "404", status: 404, body: `404 page not found`},
		{name: "403", status: 403, body: `{"error":"access_denied","error_description":"%RT% is not allowed"}`, errorCode: "access_denied"},

		// 200 answers that are not a token.
		{name: "html page", status: 200, header: map[string]string{"Content-Type": "text/html; charset=utf-8"},
			body: `<html><body>Sign in again, %RT%</body></html>`, errContains: "text/html"},
		{name: "plain text", status: 200, header: map[string]string{"Content-Type": "text/plain"}, body: `access_token=%RT%`, errContains: "text/plain"},
		{name: "malformed json", status: 200, header: map[string]string{"Content-Type": "application/json"},
			body: `{"access_token":"%RT%"`, errContains: "not valid JSON"},
		{name: "json junk", status: 200, header: map[string]string{"Content-Type": "application/json"},
			body: `{"access_token":"x"} %RT%`, errContains: "not valid JSON"},
		{name: "empty access_token", status: 200, header: map[string]string{"Content-Type": "application/json"},
			body: `{"access_token":"","refresh_token":"%RT%"}`, errContains: "no access_token"},
		{name: "no access_token", status: 200, header: map[string]string{"Content-Type": "application/json"},
			body: `{"refresh_token":"%RT%"}`, errContains: "no access_token"},
		{name: "empty body", status: 200, header: map[string]string{"Content-Type": "application/json"}, errContains: "not valid JSON"},
		{name: "access_token not a string", status: 200, header: map[string]string{"Content-Type": "application/json"},
			body: `{"access_token":123,"refresh_token":"%RT%"}`, errContains: "access_token"},
		{name: "expires_in not a number", status: 200, header: map[string]string{"Content-Type": "application/json"},
			body: `{"access_token":"x","expires_in":"%RT%"}`, errContains: "expires_in"},
		{name: "expires_in negative", status: 200, header: map[string]string{"Content-Type": "application/json"},
			body: `{"access_token":"x","expires_in":-5}`, errContains: "expires_in"},
		{name: "expires_in NaN", status: 200, header: map[string]string{"Content-Type": "application/json"},
			body: `{"access_token":"x","expires_in":"NaN"}`, errContains: "expires_in"},
		{name: "expires_in overflows a Duration", status: 200, header: map[string]string{"Content-Type": "application/json"},
			body: `{"access_token":"x","expires_in":10000000000}`, errContains: "expires_in"},
		{name: "over 1 MiB", status: 200, header: map[string]string{"Content-Type": "application/json"},
			body: `{"access_token":"%RT%","pad":"` + strings.Repeat("a", maxTokenResponse) + `"}`, errContains: "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := jrServer(t, func(w http.ResponseWriter, sentRT string) {
				for k, v := range tt.header {
					w.Header().Set(k, strings.ReplaceAll(v, "%RT%", sentRT))
				}
				w.WriteHeader(tt.status)
				// PHP's json_encode writes "/" as "\/".
				escaped := strings.ReplaceAll(sentRT, "/", `\/`)
				_, _ = io.WriteString(w, strings.NewReplacer("%RTESC%", escaped, "%RT%", sentRT).Replace(tt.body))
			})
			cur := jrCurrent()
			tok, err := jrRefresh(t, srv, cur)
			require.Error(t, err)
			assert.Nil(t, tok)
			jrRequireNoSecrets(t, err, cur)

			var re *RefreshError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, tt.permanent, re.Permanent, "permanent: %v", err)
			assert.Equal(t, tt.permanent, errors.Is(err, ErrReauthRequired), "matches ErrReauthRequired: %v", err)
			assert.Equal(t, tt.status, re.StatusCode)
			assert.Equal(t, tt.errorCode, re.ErrorCode)
			assert.GreaterOrEqual(t, re.RetryAfter, tt.retryMin)
			assert.LessOrEqual(t, re.RetryAfter, tt.retryMax)
			assert.Contains(t, err.Error(), tt.errContains)
			if tt.status != 200 {
				assert.Contains(t, err.Error(), "status "+strconv.Itoa(tt.status))
			}
			// classify keeps the Refresher's verdict.
			assertSameVerdict(t, re, classify(err))
		})
	}
}

// TestJSONRefresherConfigurationErrorsKeepSession checks that 400 and 401
// answers blaming the client's setup, not the refresh token, do not end the
// session.
func TestJSONRefresherConfigurationErrorsKeepSession(t *testing.T) {
	for _, code := range []string{"invalid_client", "invalid_request"} {
		t.Run(code, func(t *testing.T) {
			srv, _ := jrServer(t, func(w http.ResponseWriter, _ string) {
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = io.WriteString(w, `{"error":"`+code+`"}`)
			})
			_, err := jrRefresh(t, srv, jrCurrent())
			var re *RefreshError
			require.ErrorAs(t, err, &re)
			assert.False(t, re.Permanent)
			assert.NotErrorIs(t, err, ErrReauthRequired)
			assert.Equal(t, code, re.ErrorCode)
			assert.Equal(t, http.StatusUnauthorized, re.StatusCode)
		})
	}
}

func TestJSONAnswerRetryAfterDate(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	for _, status := range []int{429, 500, 503} {
		resp := &http.Response{StatusCode: status, Header: http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}}
		_, err := jsonAnswer(resp, nil, now, "")
		var re *RefreshError
		require.ErrorAs(t, err, &re)
		assert.False(t, re.Permanent)
		assert.Equal(t, 90*time.Second, re.RetryAfter, "status %d", status)
	}
	// A 400 is final: there is nothing to retry.
	resp := &http.Response{StatusCode: 400, Header: http.Header{"Retry-After": {"30"}}}
	_, err := jsonAnswer(resp, nil, now, "")
	var re *RefreshError
	require.ErrorAs(t, err, &re)
	assert.True(t, re.Permanent)
	assert.Zero(t, re.RetryAfter)
}

func TestJSONAnswerWithoutContentTypeIsDecoded(t *testing.T) {
	resp := &http.Response{StatusCode: 200, Header: http.Header{}}
	tok, err := jsonAnswer(resp, []byte(`{"access_token":"a","expires_in":60}`), time.Unix(1000, 0), "")
	require.NoError(t, err)
	assert.Equal(t, "a", tok.AccessToken)
	assert.Equal(t, time.Unix(1060, 0), tok.Expiry)
}

// TestJSONRefresherLongDescriptionIsClipped checks that server text in an
// error is bounded.
func TestJSONRefresherLongDescriptionIsClipped(t *testing.T) {
	long := strings.Repeat("x", 5000)
	srv, _ := jrServer(t, func(w http.ResponseWriter, _ string) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":"invalid_grant`+long+`","error_description":"`+long+`"}`)
	})
	_, err := jrRefresh(t, srv, jrCurrent())
	var re *RefreshError
	require.ErrorAs(t, err, &re)
	assert.Less(t, len(err.Error()), 600, "error text not clipped: %d bytes", len(err.Error()))
	assert.LessOrEqual(t, len(re.ErrorCode), 64+len("..."))
}

// jrClosingListener accepts connections and closes them at once, resetting
// them if reset is set. It stops when the test ends.
func jrClosingListener(t *testing.T, reset bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if reset {
				_ = c.(*net.TCPConn).SetLinger(0)
			}
			_ = c.Close()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
	})
	return "http://" + ln.Addr().String() + "/token"
}

// jrClient is a client with its own transport, closed when the test ends.
func jrClient(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func TestJSONRefresherConnectionFailuresAreTransient(t *testing.T) {
	refused := func(t *testing.T) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		require.NoError(t, ln.Close())
		return "http://" + addr + "/token"
	}
	tests := []struct {
		name     string
		endpoint func(t *testing.T) string
		check    func(t *testing.T, err error)
	}{
		{"refused", refused, func(t *testing.T, err error) { assert.ErrorIs(t, err, syscall.ECONNREFUSED) }},
		{"closed", func(t *testing.T) string { return jrClosingListener(t, false) }, nil},
		{"reset", func(t *testing.T) string { return jrClosingListener(t, true) }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cur := jrCurrent()
			tok, err := JSONRefresher(tt.endpoint(t), jrClient(t)).Refresh(context.Background(), cur)
			require.Error(t, err)
			assert.Nil(t, tok)
			var re *RefreshError
			require.ErrorAs(t, err, &re)
			assert.False(t, re.Permanent)
			assert.NotErrorIs(t, err, ErrReauthRequired)
			assert.Zero(t, re.StatusCode)
			var ue *url.Error
			assert.ErrorAs(t, err, &ue)
			jrRequireNoSecrets(t, err, cur)
			if tt.check != nil {
				tt.check(t, err)
			}
		})
	}
}

func TestJSONRefresherTimeoutIsTransient(t *testing.T) {
	release := make(chan struct{})
	srv, _ := jrServer(t, func(w http.ResponseWriter, _ string) {
		<-release
	})
	t.Cleanup(func() { close(release) }) // runs before srv.Close

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	cur := jrCurrent()
	tok, err := JSONRefresher(srv.URL, srv.Client()).Refresh(ctx, cur)
	require.Error(t, err)
	assert.Nil(t, tok)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	var re *RefreshError
	require.ErrorAs(t, err, &re)
	assert.False(t, re.Permanent)
	assert.NotErrorIs(t, err, ErrReauthRequired)
	assert.Zero(t, re.StatusCode)
	jrRequireNoSecrets(t, err, cur)
}

// TestJSONRefresherCancelIsTransient cancels the refresh once the server
// has the request, so no timing is involved.
func TestJSONRefresherCancelIsTransient(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cancel()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })

	cur := jrCurrent()
	_, err := JSONRefresher(srv.URL, srv.Client()).Refresh(ctx, cur)
	require.ErrorIs(t, err, context.Canceled)
	var re *RefreshError
	require.ErrorAs(t, err, &re)
	assert.False(t, re.Permanent)
	assert.NotErrorIs(t, err, ErrReauthRequired)
	jrRequireNoSecrets(t, err, cur)
}

func TestJSONRefresherBadEndpoint(t *testing.T) {
	_, err := JSONRefresher("://no scheme", nil).Refresh(context.Background(), jrCurrent())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "bad endpoint")
	assert.NotErrorIs(t, err, ErrReauthRequired)
	assert.False(t, classify(err).Permanent)
}

// TestJSONRefresherTemporaryAndProxy400sKeepTheSession checks that a 400 or
// 401 that says the failure is the server's and passing, or that is an HTML
// page from a proxy rather than the token endpoint's verdict, does not end
// the session.
func TestJSONRefresherTemporaryAndProxy400sKeepTheSession(t *testing.T) {
	for _, tc := range []struct {
		name        string
		status      int
		contentType string
		body        string
		code        string
	}{
		{"400 temporarily_unavailable", 400, "application/json", `{"error":"temporarily_unavailable"}`, "temporarily_unavailable"},
		{"400 server_error", 400, "application/json", `{"error":"server_error","error_description":"try again"}`, "server_error"},
		{"400 proxy page", 400, "text/html; charset=utf-8", `<html><body>400 Request Header Or Cookie Too Large</body></html>`, ""},
		{"401 proxy page", 401, "text/html", `<html><body>401 Authorization Required</body></html>`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := jrServer(t, func(w http.ResponseWriter, _ string) {
				w.Header().Set("Content-Type", tc.contentType)
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			})
			_, err := jrRefresh(t, srv, jrCurrent())
			var re *RefreshError
			require.ErrorAs(t, err, &re)
			assert.False(t, re.Permanent)
			assert.NotErrorIs(t, err, ErrReauthRequired)
			assert.Equal(t, tc.status, re.StatusCode)
			assert.Equal(t, tc.code, re.ErrorCode)
		})
	}
}
