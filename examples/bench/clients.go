package main

import (
	"context"
	"net/http"
	"time"

	"github.com/tokenrefresh/tokenrefresh"
	"golang.org/x/oauth2"
)

// The clients compared.
const (
	clientTokenrefresh = "tokenrefresh"
	clientOAuth2       = "oauth2"
	clientNaive        = "naive"
	clientBaseline     = "baseline"
)

var (
	stormClients  = []string{clientTokenrefresh, clientOAuth2, clientNaive}
	expiryClients = []string{clientBaseline, clientOAuth2, clientTokenrefresh}
)

// newClient returns the RoundTripper of the named client, authorised with
// tok and refreshing at e's token server.
func newClient(name string, e *env, tok *oauth2.Token, cfg Config) http.RoundTripper {
	switch name {
	case clientTokenrefresh:
		src := tokenrefresh.NewSource(
			tokenrefresh.JSONRefresher(e.srv.URL+"/refresh", e.httpClient()),
			tokenrefresh.WithToken(tok),
			tokenrefresh.WithLeeway(cfg.Leeway),
			tokenrefresh.WithEarlyRefresh(cfg.Early),
		)
		return &tokenrefresh.Transport{Source: src, Base: e.pool}
	case clientOAuth2:
		return newOAuth2Transport(e, tok, cfg.Leeway)
	case clientNaive:
		return &naiveTransport{base: e.pool, refreshURL: e.srv.URL + "/refresh", client: e.httpClient(), tok: tok}
	case clientBaseline:
		return &staticAuth{base: e.pool, auth: tok.Type() + " " + tok.AccessToken}
	}
	panic("unknown client " + name)
}

// newOAuth2Transport is x/oauth2 as its documentation suggests, except that
// the early expiry is leeway rather than the default 10 seconds, which
// would refresh on every request with 1-second tokens.
func newOAuth2Transport(e *env, tok *oauth2.Token, leeway time.Duration) *oauth2.Transport {
	conf := &oauth2.Config{
		ClientID: "bench",
		Endpoint: oauth2.Endpoint{TokenURL: e.srv.URL + "/oauth2/token", AuthStyle: oauth2.AuthStyleInParams},
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, e.httpClient())
	// The inner source refreshes whenever the outer one asks: a token with
	// only a refresh token is never valid to it.
	refresher := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken})
	return &oauth2.Transport{Source: oauth2.ReuseTokenSourceWithExpiry(tok, refresher, leeway), Base: e.pool}
}

// staticAuth sends a fixed Authorization header and never refreshes: the
// baseline of a token that does not expire.
type staticAuth struct {
	base http.RoundTripper
	auth string
}

func (s *staticAuth) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", s.auth)
	return s.base.RoundTrip(r)
}
