package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tokenrefresh/tokenrefresh"
)

// maxBody bounds what get prints.
const maxBody = 16 << 20

// login logs in and saves the new session, replacing any previous one.
func (a *app) login(ctx context.Context, args []string) error {
	fs := a.subcommandFlags("login", "[-u USER]")
	userFlag := fs.String("u", "", "username (asked for on a terminal if not given)")
	if err := fs.Parse(args); err != nil {
		return flagError(err)
	}
	if fs.NArg() > 0 {
		return usageErrorf("login: unexpected arguments %q", fs.Args())
	}
	user, password, err := a.credentials(*userFlag)
	if err != nil {
		return err
	}
	tok, err := a.postLogin(ctx, user, password)
	if err != nil {
		return err
	}
	s, err := a.openSession()
	if err != nil {
		return err
	}
	// SetToken saves under the refresh lock, so that another copy's
	// refresh cannot save its token over the new session.
	lockCtx, cancel := context.WithTimeout(ctx, lockTimeout)
	defer cancel()
	if err := s.src.SetToken(lockCtx, tok); err != nil {
		return fmt.Errorf("logged in, but the session could not be saved: %w", err)
	}
	fmt.Fprintf(a.stdout, "Logged in to %s as %s; session saved in %s.\n", a.server, user, s.describe())
	return nil
}

// get fetches a path with the saved session and prints the response body.
func (a *app) get(ctx context.Context, args []string) error {
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		return usageErrorf("usage: %s get PATH (for example /api/me)", a.prog)
	}
	target, err := a.resolve(args[0])
	if err != nil {
		return err
	}
	s, err := a.openSession()
	if err != nil {
		return err
	}
	// A refresh whose caller gave up (Ctrl-C) goes on detached: let it save
	// the rotated refresh token before the process exits, or the next run
	// would present a spent one.
	defer func() { _ = s.src.Wait(context.Background()) }()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	resp, err := tokenrefresh.NewClient(s.src).Do(req)
	if err != nil {
		return s.explain(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("GET %s: read response: %w", args[0], err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("GET %s: %s%s", args[0], resp.Status, serverMessage(body))
	}
	return writeBody(a.stdout, body)
}

// resolve turns a path into a URL on the server. Only paths are accepted,
// so the token can never be sent to another host.
func (a *app) resolve(path string) (string, error) {
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	base, _ := url.Parse(a.server)
	u, err := url.Parse(a.server + path)
	if err != nil || u.Scheme != base.Scheme || u.Host != base.Host {
		return "", usageErrorf("get: %q is not a path on %s", path, a.server)
	}
	return u.String(), nil
}

// status reports on the saved session without contacting the server.
func (a *app) status(ctx context.Context, args []string) error {
	if len(args) != 0 {
		return usageErrorf("usage: %s status", a.prog)
	}
	s, err := a.openSession()
	if err != nil {
		return err
	}
	tok, err := s.store.Load(ctx)
	switch {
	case errors.Is(err, tokenrefresh.ErrNoToken):
		printStatus(a.stdout, statusLines{server: a.server, store: s.describe()})
		return silent(exitLoginRequired)
	case err != nil:
		return err
	}
	printStatus(a.stdout, statusLines{
		server:  a.server,
		store:   s.describe(),
		user:    username(tok),
		expiry:  tok.Expiry,
		now:     time.Now(),
		refresh: tok.RefreshToken != "",
	})
	return nil
}

// logout forgets the saved session. The demo server has no revocation
// endpoint, so the tokens stay valid on the server until they expire.
func (a *app) logout(ctx context.Context, args []string) error {
	if len(args) != 0 {
		return usageErrorf("usage: %s logout", a.prog)
	}
	s, err := a.openSession()
	if err != nil {
		return err
	}
	var user string
	tok, err := s.store.Load(ctx)
	switch {
	case errors.Is(err, tokenrefresh.ErrNoToken):
		fmt.Fprintf(a.stdout, "Not logged in to %s; nothing to do.\n", a.server)
		return nil
	case err == nil:
		user = username(tok)
	case errors.Is(err, tokenrefresh.ErrTokenCorrupt):
		user = "an unreadable session"
	default:
		return err
	}
	// Logout deletes under the refresh lock, so that another copy's
	// refresh cannot bring the session back.
	lockCtx, cancel := context.WithTimeout(ctx, lockTimeout)
	defer cancel()
	if err := s.src.Logout(lockCtx); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "Logged out %s from %s.\n", user, a.server)
	return nil
}
