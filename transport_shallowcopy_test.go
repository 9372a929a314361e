package tokenrefresh

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// Transport sends a shallow copy of the caller's request (withAuth): a new
// Request and header map, sharing the caller's URL, body and header value
// slices. These tests prove that sharing is safe: the caller's request and
// every header slice, up to its capacity, are bit for bit what they were,
// even when the RoundTripper below appends to every header of the copy,
// across a 401 retry and across redirects.

// scRequestSnapshot records everything of a request that Transport could
// change through a shallow copy.
type scRequestSnapshot struct {
	method, url, host string
	urlPtr            *url.URL
	body              io.ReadCloser
	ctx               context.Context
	contentLength     int64
	header            http.Header
	// slices and backing record, for each header, the caller's slice
	// header and its whole backing array up to capacity.
	slices  map[string][]string
	backing map[string][]string
}

func scSnapshot(req *http.Request) scRequestSnapshot {
	s := scRequestSnapshot{
		method: req.Method, url: req.URL.String(), host: req.Host, urlPtr: req.URL,
		body: req.Body, ctx: req.Context(), contentLength: req.ContentLength,
		header: req.Header.Clone(), slices: map[string][]string{}, backing: map[string][]string{},
	}
	for k, v := range req.Header {
		s.slices[k] = v
		s.backing[k] = append([]string(nil), v[:cap(v)]...)
	}
	return s
}

// scRequireUnchanged fails unless req is exactly as snap recorded it.
func scRequireUnchanged(t *testing.T, snap scRequestSnapshot, req *http.Request) {
	t.Helper()
	assert.Equal(t, snap.method, req.Method)
	assert.Equal(t, snap.url, req.URL.String())
	assert.Same(t, snap.urlPtr, req.URL, "the caller's URL was replaced")
	assert.Equal(t, snap.host, req.Host)
	assert.True(t, snap.body == req.Body, "the caller's body was replaced")
	assert.True(t, snap.ctx == req.Context(), "the caller's context was replaced")
	assert.Equal(t, snap.contentLength, req.ContentLength)
	assert.Equal(t, snap.header, req.Header, "the caller's headers changed")
	assert.Empty(t, req.Header.Values("Authorization"), "the token leaked into the caller's headers")
	for k, v := range snap.slices {
		got := req.Header[k]
		require.Len(t, got, len(v), k)
		assert.Equal(t, cap(v), cap(got), "%s: the caller's slice was replaced", k)
		if len(v) > 0 {
			assert.Same(t, &v[0], &got[0], "%s: the caller's slice was replaced", k)
		}
		assert.Equal(t, snap.backing[k], got[:cap(got)], "%s: something wrote into the caller's array", k)
	}
}

// scCallerRequest returns a request whose header slices have spare capacity,
// so that an unclipped append would write into the caller's arrays.
func scCallerRequest(t *testing.T, method, target string, body []byte) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, target, rd)
	require.NoError(t, err)
	spare := func(vs ...string) []string { return append(make([]string, 0, len(vs)+3), vs...) }
	req.Header["Accept"] = spare("application/json")
	req.Header["X-Multi"] = spare("one", "two")
	req.Header["X-Empty"] = spare()
	return req
}

// scSeen is what the RoundTripper below Transport received, before it
// meddled with it.
type scSeen struct {
	req    *http.Request
	url    string
	header http.Header
	body   string
}

// meddlingRoundTripper records each request, reads its body, then appends
// to every header of the request it was given, as a careless middleware
// might, and answers with answer.
type meddlingRoundTripper struct {
	mu     sync.Mutex
	seen   []scSeen
	answer func(req *http.Request, n int) *http.Response
}

func (m *meddlingRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	s := scSeen{req: req, url: req.URL.String(), header: req.Header.Clone()}
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		_ = req.Body.Close()
		s.body = string(b)
	}
	for k := range req.Header {
		req.Header.Add(k, "meddled")
	}
	req.Header.Add("X-Meddler", "1")
	m.mu.Lock()
	n := len(m.seen)
	m.seen = append(m.seen, s)
	m.mu.Unlock()
	if m.answer == nil {
		return scResponse(req, http.StatusOK, nil), nil
	}
	return m.answer(req, n), nil
}

func (m *meddlingRoundTripper) requests() []scSeen {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]scSeen(nil), m.seen...)
}

func scResponse(req *http.Request, status int, header http.Header) *http.Response {
	if header == nil {
		header = http.Header{}
	}
	return &http.Response{StatusCode: status, Status: http.StatusText(status), Header: header,
		Body: io.NopCloser(bytes.NewReader([]byte("body"))), Request: req, ProtoMajor: 1, ProtoMinor: 1}
}

// scSource returns a Source holding "sc-access-1" that refreshes to
// "sc-access-2", "sc-access-3" and so on, counting refreshes.
func scSource(refreshes *atomic.Int32) *Source {
	first := &oauth2.Token{AccessToken: "sc-access-1", RefreshToken: "sc-refresh", TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)}
	return NewSource(RefresherFunc(func(context.Context, *oauth2.Token) (*oauth2.Token, error) {
		n := refreshes.Add(1)
		return &oauth2.Token{AccessToken: fmt.Sprintf("sc-access-%d", n+1), TokenType: "Bearer", ExpiresIn: 3600}, nil
	}), WithToken(first))
}

// scWant is the header a hop should see: the caller's, plus auth if set.
func scWant(snap scRequestSnapshot, auth string) http.Header {
	h := snap.header.Clone()
	if auth != "" {
		h["Authorization"] = []string{auth}
	}
	return h
}

// TestShallowCopyClipsCallerHeaderSlices: appends to every header of the
// copy, Authorization included, reach neither the caller nor later copies.
func TestShallowCopyClipsCallerHeaderSlices(t *testing.T) {
	var refreshes atomic.Int32
	base := &meddlingRoundTripper{}
	tr := &Transport{Source: scSource(&refreshes), Base: base}
	req := scCallerRequest(t, http.MethodGet, "https://api.example.com/v1/items", nil)
	snap := scSnapshot(req)

	for range 3 {
		resp, err := tr.RoundTrip(req)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		scRequireUnchanged(t, snap, req)
	}
	seen := base.requests()
	require.Len(t, seen, 3)
	for i, s := range seen {
		assert.NotSame(t, req, s.req, "request %d: the caller's request was sent", i)
		// The appends to the previous copies, including to Authorization,
		// are in none of the later ones: neither in the caller's slices nor
		// in the Source's precomputed header value.
		assert.Equal(t, scWant(snap, "Bearer sc-access-1"), s.header, "request %d", i)
	}
	assert.Zero(t, refreshes.Load())
}

// TestShallowCopyConcurrentAppendsDoNotRace: one caller request sent from
// many goroutines at once, each copy appended to.
func TestShallowCopyConcurrentAppendsDoNotRace(t *testing.T) {
	// Under -race, an unclipped slice shared by concurrent copies would be
	// a data race as well as a wrong header.
	var refreshes atomic.Int32
	base := &meddlingRoundTripper{}
	tr := &Transport{Source: scSource(&refreshes), Base: base}
	req := scCallerRequest(t, http.MethodGet, "https://api.example.com/v1/items", nil)
	snap := scSnapshot(req)

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 25 {
				resp, err := tr.RoundTrip(req)
				if assert.NoError(t, err) {
					_ = resp.Body.Close()
				}
			}
		})
	}
	wg.Wait()
	scRequireUnchanged(t, snap, req)
	for _, s := range base.requests() {
		require.Equal(t, scWant(snap, "Bearer sc-access-1"), s.header)
	}
}

// TestShallowCopyAcross401Retry: the retry is a fresh copy of the caller's
// request, with the new token and none of the first attempt's appends.
func TestShallowCopyAcross401Retry(t *testing.T) {
	var refreshes atomic.Int32
	base := &meddlingRoundTripper{answer: func(req *http.Request, n int) *http.Response {
		if n == 0 {
			return scResponse(req, http.StatusUnauthorized, http.Header{
				"Www-Authenticate": {`Bearer realm="sc", error="invalid_token"`},
			})
		}
		return scResponse(req, http.StatusOK, nil)
	}}
	tr := &Transport{Source: scSource(&refreshes), Base: base}
	payload := bytes.Repeat([]byte("payload."), 512)
	req := scCallerRequest(t, http.MethodPost, "https://api.example.com/v1/upload", payload)
	require.NotNil(t, req.GetBody)
	snap := scSnapshot(req)

	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	scRequireUnchanged(t, snap, req)
	assert.EqualValues(t, 1, refreshes.Load())

	seen := base.requests()
	require.Len(t, seen, 2)
	assert.Equal(t, scWant(snap, "Bearer sc-access-1"), seen[0].header)
	assert.Equal(t, scWant(snap, "Bearer sc-access-2"), seen[1].header,
		"the retry carried what the first attempt's RoundTripper appended")
	for i, s := range seen {
		assert.Equal(t, string(payload), s.body, "attempt %d", i)
		assert.NotSame(t, req, s.req, "attempt %d: the caller's request was sent", i)
	}
	assert.NotSame(t, seen[0].req, seen[1].req, "the retry reused the first attempt's copy")
}

// TestShallowCopyAcrossRedirects: through http.Client, with 307, 308 and 302
// hops, a 401 retry on a redirected hop and a hop to another host.
func TestShallowCopyAcrossRedirects(t *testing.T) {
	var refreshes atomic.Int32
	var nextAnswered atomic.Bool
	base := &meddlingRoundTripper{answer: func(req *http.Request, _ int) *http.Response {
		redirect := func(status int, to string) *http.Response {
			return scResponse(req, status, http.Header{"Location": {to}})
		}
		switch req.URL.Host + req.URL.Path {
		case "api.example.com/start":
			return redirect(http.StatusTemporaryRedirect, "/next")
		case "api.example.com/next":
			// A 401 on a redirected hop: refreshed and retried there.
			if !nextAnswered.Swap(true) {
				return scResponse(req, http.StatusUnauthorized, http.Header{"Www-Authenticate": {`Bearer error="invalid_token"`}})
			}
			return redirect(http.StatusPermanentRedirect, "https://eu.api.example.com/third")
		case "eu.api.example.com/third":
			return redirect(http.StatusFound, "https://other.example.net/fourth")
		}
		return scResponse(req, http.StatusOK, nil)
	}}
	client := &http.Client{Transport: &Transport{Source: scSource(&refreshes), Base: base}}
	payload := []byte(`{"replayed":"on 307, 308 and the 401 retry"}`)
	req := scCallerRequest(t, http.MethodPut, "https://api.example.com/start", payload)
	snap := scSnapshot(req)

	resp, err := client.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	scRequireUnchanged(t, snap, req)
	assert.EqualValues(t, 1, refreshes.Load())

	// net/http builds each hop from the caller's request; what reaches the
	// wire is the caller's headers plus our token where it may go, and
	// never what an earlier hop's RoundTripper appended.
	seen := base.requests()
	require.Len(t, seen, 5)
	hops := []struct {
		url, auth string
	}{
		{"https://api.example.com/start", "Bearer sc-access-1"},
		{"https://api.example.com/next", "Bearer sc-access-1"},
		{"https://api.example.com/next", "Bearer sc-access-2"},
		{"https://eu.api.example.com/third", "Bearer sc-access-2"},
		{"https://other.example.net/fourth", ""},
	}
	for i, hop := range hops {
		s := seen[i]
		assert.Equal(t, hop.url, s.url, "hop %d", i)
		assert.NotSame(t, req, s.req, "hop %d: the caller's request was sent", i)
		h := s.header.Clone()
		// net/http adds Referer on redirects; it is not ours to check.
		h.Del("Referer")
		assert.Equal(t, scWant(snap, hop.auth), h, "hop %d", i)
	}
	// 307 and 308 replay the body, and so does the 401 retry of a
	// redirected hop; 302 turns the PUT into a GET without one.
	for i := range 4 {
		assert.Equal(t, string(payload), seen[i].body, "hop %d", i)
	}
	assert.Empty(t, seen[4].body)
}

// TestShallowCopyKeepsCallerAuthorization: a caller that set its own
// Authorization keeps it; the copy carries the Source's token instead.
func TestShallowCopyKeepsCallerAuthorization(t *testing.T) {
	var refreshes atomic.Int32
	base := &meddlingRoundTripper{}
	tr := &Transport{Source: scSource(&refreshes), Base: base}
	req := scCallerRequest(t, http.MethodGet, "https://api.example.com/v1/me", nil)
	req.Header["Authorization"] = append(make([]string, 0, 4), "Basic Y2FsbGVyOnNlY3JldA==")
	before := req.Header.Clone()
	backing := append([]string(nil), req.Header["Authorization"][:4]...)

	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, before, req.Header)
	assert.Equal(t, backing, req.Header["Authorization"][:4])
	seen := base.requests()
	require.Len(t, seen, 1)
	assert.Equal(t, []string{"Bearer sc-access-1"}, seen[0].header["Authorization"])
}
