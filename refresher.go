package tokenrefresh

import (
	"context"

	"golang.org/x/oauth2"
)

// A Refresher exchanges the refresh token of current for a new token.
//
// Refresh is called by a Source at most once at a time. It should return a
// *RefreshError with Permanent set when the server definitively rejected the
// refresh token (OAuth2's invalid_grant); any other error is taken as
// transient, and the refresh token is kept for a later attempt. The
// returned token may leave RefreshToken empty to keep the current one.
type Refresher interface {
	Refresh(ctx context.Context, current *oauth2.Token) (*oauth2.Token, error)
}

// RefresherFunc adapts a function to a Refresher.
type RefresherFunc func(ctx context.Context, current *oauth2.Token) (*oauth2.Token, error)

// Refresh calls f.
func (f RefresherFunc) Refresh(ctx context.Context, current *oauth2.Token) (*oauth2.Token, error) {
	return f(ctx, current)
}

// OAuth2Refresher returns a Refresher that uses the refresh_token grant of
// RFC 6749 section 6 at cfg's token endpoint, through golang.org/x/oauth2.
// An invalid_grant answer is a permanent failure.
//
// The HTTP client is the one x/oauth2 finds in the context under
// oauth2.HTTPClient, else http.DefaultClient; the context is that of the
// caller that started the refresh, without its cancellation.
func OAuth2Refresher(cfg *oauth2.Config) Refresher {
	return RefresherFunc(func(ctx context.Context, current *oauth2.Token) (*oauth2.Token, error) {
		// A token with only a refresh token is invalid to x/oauth2, so its
		// TokenSource refreshes at once and exactly once.
		return cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: current.RefreshToken}).Token()
	})
}
