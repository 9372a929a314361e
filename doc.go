// Package tokenrefresh keeps API sessions alive on the client side.
//
// A client logs in and gets a short-lived access token and a refresh token.
// tokenrefresh attaches the access token to every request, refreshes it
// before it expires or when a server rejects it with 401, and tells the
// application when the refresh token itself is rejected and the user must
// log in again.
//
// The pieces:
//
//   - A [Refresher] exchanges a refresh token for a new token:
//     [OAuth2Refresher] for RFC 6749 token endpoints, [JSONRefresher] for
//     plain JSON APIs, or a [RefresherFunc] of your own.
//   - A [Source] holds the current token. Reading it takes no lock; at most
//     one refresh runs at a time, shared by every caller that needs it, on
//     a context detached from theirs. It implements [oauth2.TokenSource].
//   - A [Transport] authorises requests, and on a 401 refreshes once and
//     retries. Errors match [ErrReauthRequired] once the session has ended.
//   - A [Store] keeps the token between runs: [NewMemoryStore],
//     [NewKeyringStore] for the OS keyring, [NewFileStore] for headless
//     machines. A [Locker] such as [NewFileLocker] makes processes that share
//     a store refresh once between them, so a rotating refresh token is
//     never sent twice.
//
// A typical API client:
//
//	src := tokenrefresh.NewSource(
//		tokenrefresh.OAuth2Refresher(oauthConfig),
//		tokenrefresh.WithToken(loginToken),
//		tokenrefresh.OnReauth(func(err error) { log.Print("please log in again") }),
//	)
//	client := tokenrefresh.NewClient(src)
//	resp, err := client.Get("https://api.example.com/v1/me")
//	if errors.Is(err, tokenrefresh.ErrReauthRequired) {
//		// ask the user to log in, then src.SetToken(ctx, newToken)
//	}
//
// A short-lived process should call [Source.Wait] before it exits, so that a
// refresh still under way can save the rotated refresh token. Use
// [NewClient] or [Transport] rather than oauth2.NewClient, which would wrap
// the Source in x/oauth2's transport and lose the 401 handling.
//
// Token values never appear in errors, logs or String output.
package tokenrefresh
