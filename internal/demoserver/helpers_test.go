package demoserver_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tokenrefresh/tokenrefresh/internal/demoserver"
	"github.com/tokenrefresh/tokenrefresh/internal/fakeclock"
)

// newFakeClock returns a settable clock for Config.Now.
func newFakeClock() *fakeclock.Clock {
	return fakeclock.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
}

// harness is a Server behind a loopback httptest.Server with a fake clock.
type harness struct {
	t     *testing.T
	srv   *demoserver.Server
	ts    *httptest.Server
	clock *fakeclock.Clock
}

func newHarness(t *testing.T, cfg demoserver.Config) *harness {
	t.Helper()
	clock := newFakeClock()
	if cfg.Now == nil {
		cfg.Now = clock.Now
	}
	srv := demoserver.New(cfg)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &harness{t: t, srv: srv, ts: ts, clock: clock}
}

// result is a decoded HTTP answer.
type result struct {
	status int
	header http.Header
	raw    string
	body   map[string]any
}

func (r result) str(key string) string {
	s, _ := r.body[key].(string)
	return s
}

func (h *harness) do(req *http.Request) result {
	h.t.Helper()
	res, err := h.tryDo(req)
	require.NoError(h.t, err)
	return res
}

// tryDo is do for goroutines other than the test's, where require must not
// be used.
func (h *harness) tryDo(req *http.Request) (result, error) {
	resp, err := h.ts.Client().Do(req)
	if err != nil {
		return result{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return result{}, err
	}
	res := result{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &res.body); err != nil {
			return result{}, fmt.Errorf("decoding %q: %w", raw, err)
		}
	}
	return res, nil
}

// tryRefresh is refresh for goroutines other than the test's.
func (h *harness) tryRefresh(refreshToken string) (result, error) {
	body := url.Values{"refresh_token": {refreshToken}}.Encode()
	req, err := http.NewRequest(http.MethodPost, h.ts.URL+"/refresh", strings.NewReader(body))
	if err != nil {
		return result{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return h.tryDo(req)
}

// tryAPI is api for goroutines other than the test's.
func (h *harness) tryAPI(token string) (result, error) {
	req, err := http.NewRequest(http.MethodGet, h.ts.URL+"/api/load", nil)
	if err != nil {
		return result{}, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return h.tryDo(req)
}

func (h *harness) request(method, path, contentType, body string) *http.Request {
	h.t.Helper()
	req, err := http.NewRequest(method, h.ts.URL+path, strings.NewReader(body))
	require.NoError(h.t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req
}

func (h *harness) postRaw(path, contentType, body string) result {
	h.t.Helper()
	return h.do(h.request(http.MethodPost, path, contentType, body))
}

func (h *harness) postJSON(path string, v any) result {
	h.t.Helper()
	b, err := json.Marshal(v)
	require.NoError(h.t, err)
	return h.postRaw(path, "application/json", string(b))
}

func (h *harness) postForm(path string, v url.Values) result {
	h.t.Helper()
	return h.postRaw(path, "application/x-www-form-urlencoded", v.Encode())
}

// api calls GET path with the access token, if any.
func (h *harness) api(path, token string) result {
	h.t.Helper()
	req := h.request(http.MethodGet, path, "", "")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return h.do(req)
}

// tokens is the token part of a successful answer.
type tokens struct{ access, refresh string }

func (r result) tokens(t *testing.T) tokens {
	t.Helper()
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.raw)
	require.NotEmpty(t, r.str("access_token"))
	return tokens{access: r.str("access_token"), refresh: r.str("refresh_token")}
}

// login logs in as demo/demo through /login.
func (h *harness) login() tokens {
	h.t.Helper()
	return h.loginAs("demo", "demo")
}

func (h *harness) loginAs(user, password string) tokens {
	h.t.Helper()
	tok := h.postJSON("/login", map[string]string{"username": user, "password": password}).tokens(h.t)
	require.NotEmpty(h.t, tok.refresh)
	return tok
}

func (h *harness) refresh(refreshToken string) result {
	h.t.Helper()
	return h.postJSON("/refresh", map[string]string{"refresh_token": refreshToken})
}

// requireAPIOK asserts the access token is accepted.
func (h *harness) requireAPIOK(token string) {
	h.t.Helper()
	res := h.api("/api/check", token)
	require.Equal(h.t, http.StatusOK, res.status, "body: %s", res.raw)
}

// requireAPIRejected asserts the access token is refused with the given
// error_description.
func (h *harness) requireAPIRejected(token, desc string) {
	h.t.Helper()
	res := h.api("/api/check", token)
	require.Equal(h.t, http.StatusUnauthorized, res.status, "body: %s", res.raw)
	require.Equal(h.t, desc, res.str("error_description"))
}

// requireInvalidGrant asserts a /refresh answer is a 401 invalid_grant
// with the given description.
func requireInvalidGrant(t *testing.T, res result, desc string) {
	t.Helper()
	require.Equal(t, http.StatusUnauthorized, res.status, "body: %s", res.raw)
	require.Equal(t, "invalid_grant", res.str("error"))
	require.Equal(t, desc, res.str("error_description"))
}
