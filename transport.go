package tokenrefresh

import (
	"io"
	"net/http"
	"slices"
	"strings"
)

// Transport is an http.RoundTripper that authorises requests with the
// Source's token. On a 401 that a fresh token can cure, it refreshes the
// token once, shared with all concurrent requests, and sends the request
// again. When the session has ended, requests fail with an error matching
// ErrReauthRequired.
//
// Transport never modifies the caller's request.
type Transport struct {
	// Source supplies tokens. It must be set.
	Source *Source
	// Base sends the requests. If nil, http.DefaultTransport is used.
	Base http.RoundTripper
	// AllowedHosts, if not empty, lists the only hosts that ever receive the
	// token: a request to any other host goes out without it. An entry is a
	// host name without a port, and matches that host on any port and its
	// subdomains.
	AllowedHosts []string
}

// NewClient returns an http.Client whose requests are authorised by s.
func NewClient(s *Source) *http.Client {
	return &http.Client{Transport: &Transport{Source: s}}
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	ctx := req.Context()
	if ctx.Value(refreshingKey{}) != nil || !t.sendsTokenTo(req) {
		return base.RoundTrip(req)
	}
	if t.Source == nil {
		closeBody(req)
		return nil, errorf("Transport.Source is nil")
	}
	st, err := t.Source.current(ctx)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	resp, err := base.RoundTrip(withAuth(req, st.auth))
	if err != nil || resp.StatusCode != http.StatusUnauthorized || !refreshMayHelp(resp, st) {
		return resp, err
	}
	// The first attempt consumed the body; only a request that can produce
	// it again is retried. Otherwise the caller gets the 401.
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return resp, nil
	}
	// Release the 401's connection first: a refresh waited on by many
	// requests may need a connection from the same bounded pool.
	discard(resp)
	next, err := t.Source.reject(ctx, st)
	if err != nil {
		return nil, err
	}
	retry := withAuth(req, next.auth)
	if req.GetBody != nil {
		if retry.Body, err = req.GetBody(); err != nil {
			return nil, errorf("replay request body: %w", err)
		}
	}
	return base.RoundTrip(retry)
}

// withAuth returns a shallow copy of req carrying auth. The copy's header
// map is new, but shares the caller's value slices: neither side writes
// them, and clipping them makes an append by a later RoundTripper copy
// rather than write into the caller's array.
func withAuth(req *http.Request, auth []string) *http.Request {
	r := new(http.Request)
	*r = *req
	h := make(http.Header, len(req.Header)+1)
	for k, v := range req.Header {
		h[k] = slices.Clip(v)
	}
	h["Authorization"] = auth
	r.Header = h
	return r
}

// refreshMayHelp reports whether a 401 may be cured by a new token. It may
// not when the server says the token lacks scope (RFC 6750 section 3.1), or
// when it asks only for authentication schemes other than the token's, such
// as DPoP for a bearer token.
func refreshMayHelp(resp *http.Response, st *state) bool {
	cs := parseChallenges(resp.Header.Values("Www-Authenticate"))
	if len(cs) == 0 {
		return true
	}
	scheme := strings.ToLower(st.tok.Type())
	ours := false
	for _, c := range cs {
		if c.scheme == scheme {
			if c.params["error"] == "insufficient_scope" {
				return false
			}
			ours = true
		}
	}
	return ours
}

// sendsTokenTo applies the allow-list, and on a redirect the rule net/http
// applies to headers the caller set: the token follows only to the
// original host or its subdomains, and never from https to http.
func (t *Transport) sendsTokenTo(req *http.Request) bool {
	host := req.URL.Hostname()
	if len(t.AllowedHosts) > 0 && !slices.ContainsFunc(t.AllowedHosts, func(h string) bool { return hostWithin(host, h) }) {
		return false
	}
	if req.Response == nil {
		return true
	}
	orig := req
	for orig.Response != nil && orig.Response.Request != nil {
		orig = orig.Response.Request
	}
	if orig.URL.Scheme == "https" && req.URL.Scheme != "https" {
		return false
	}
	return hostWithin(host, orig.URL.Hostname())
}

// hostWithin reports whether host is domain or one of its subdomains. An
// IP address matches only itself: a suffix match would let an IPv6 zone
// such as "fe80::1%.example.com" pass for a subdomain, as in net/http's
// CVE-2023-45289.
func hostWithin(host, domain string) bool {
	host, domain = strings.ToLower(strings.TrimSuffix(host, ".")), strings.ToLower(strings.TrimSuffix(domain, "."))
	if host == domain {
		return true
	}
	return !strings.ContainsAny(host, ":%") && strings.HasSuffix(host, "."+domain)
}

// discard drains a little of a response body before closing it, so the
// connection can be reused for the retry.
func discard(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
	_ = resp.Body.Close()
}

// closeBody honours the RoundTripper contract to close the request body
// even when the request is not sent.
func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}
