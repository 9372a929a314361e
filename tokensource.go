package tokenrefresh

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/sync/singleflight"
)

// A Source hands out the current token and refreshes it when it expires or
// a server rejects it. It is safe for concurrent use; it implements
// oauth2.TokenSource.
//
// Reading a valid token takes no lock and does no I/O. At most one refresh
// runs at a time, and its result is shared by every caller waiting for it.
type Source struct {
	r   Refresher
	cfg config

	// cur is nil until the first token is known.
	cur atomic.Pointer[state]
	// flight ensures one refresh at a time; its key is constant.
	flight singleflight.Group
	// background is set while a refresh started from the early-refresh
	// window runs, so the hot path starts at most one.
	background atomic.Bool
	// notBefore (Unix nanoseconds of cfg.now) holds refresh attempts back
	// after a transient failure.
	notBefore atomic.Int64

	// mu orders publishing a token with saving it, so that a refresh that
	// finishes after SetToken or Logout cannot overwrite them in the store.
	mu       sync.Mutex
	failures int           // consecutive transient failures
	lastErr  *RefreshError // the latest transient failure, served during backoff
	// persisted is the access token last read from or written to the store,
	// so a coordinating refresh can tell another process's newer token from
	// our own older one (after a failed Save, the store lags behind memory).
	persisted string
	// waitMu guards running, the count of refreshes under way, and idle,
	// closed when it drops to zero. It is not mu, which a refresh holds
	// while it saves, so that Wait can honour its context meanwhile.
	waitMu  sync.Mutex
	running int
	idle    chan struct{}
	// ended is the rejection that ended the session during the current
	// refresh, for OnReauth once the refresh has let go of the lock.
	ended *RefreshError
}

// state is an immutable snapshot of the session, swapped atomically.
type state struct {
	tok *oauth2.Token
	// auth is the Authorization header value, built once per token. It has
	// length and capacity 1, so an append by another RoundTripper copies it.
	auth []string
	// expires is false for tokens without a known expiry.
	expires bool
	earlyAt time.Time // from here on, refresh in the background
	staleAt time.Time // from here on, callers wait for a refresh
	// err ends the session: it matches ErrReauthRequired and tok is nil.
	err error
}

var _ oauth2.TokenSource = (*Source)(nil)

// NewSource returns a Source that refreshes tokens through r.
//
// The first token comes from WithToken, or else from the Store set with
// WithStore, read on first use. Without either, or when the store is empty,
// calls fail with ErrReauthRequired until SetToken is called.
func NewSource(r Refresher, opts ...Option) *Source {
	s := &Source{r: r, cfg: defaultConfig()}
	for _, o := range opts {
		o(&s.cfg)
	}
	if s.cfg.initial != nil {
		s.cur.Store(s.newState(s.given(s.cfg.initial)))
	} else if s.cfg.store == nil {
		s.cur.Store(&state{err: errorf("no token: %w", ErrReauthRequired)})
	}
	return s
}

// Token returns a valid token, refreshing it if needed. It implements
// oauth2.TokenSource; prefer TokenContext, which honours cancellation.
// The returned token must not be modified.
func (s *Source) Token() (*oauth2.Token, error) {
	return s.TokenContext(context.Background())
}

// TokenContext returns a valid token, refreshing it if it is expired or
// within the leeway of its expiry. If ctx ends while a refresh is under way,
// TokenContext returns ctx.Err() at once; the refresh carries on for the
// other callers. The returned token must not be modified.
func (s *Source) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	st, err := s.current(ctx)
	if err != nil {
		return nil, err
	}
	return st.tok, nil
}

// Refresh refreshes the token now, whatever its expiry, and returns the new
// one. While backing off after a transient failure it returns that failure
// without calling the token endpoint.
//
// If the new token could not be saved to the Store, Refresh returns it
// together with an error describing the failure. The token is in use all
// the same, and this Source never sends the refresh token it replaced
// again; other processes sharing the store see the old one until a save
// succeeds.
func (s *Source) Refresh(ctx context.Context) (*oauth2.Token, error) {
	seen := s.cur.Load()
	st, err := s.refresh(ctx, seen)
	if st == nil || st == seen {
		return nil, err
	}
	return st.tok, err
}

// Reject reports that a server refused rejected, typically with a 401. If
// rejected is still the current token, Reject refreshes it; if another
// caller already replaced it, Reject returns the replacement without a
// refresh. This is what Transport calls on a 401.
func (s *Source) Reject(ctx context.Context, rejected *oauth2.Token) (*oauth2.Token, error) {
	if rejected == nil {
		return nil, errorf("Reject: nil token")
	}
	seen := s.cur.Load()
	if seen != nil && seen.err == nil && seen.tok.AccessToken != rejected.AccessToken {
		return seen.tok, nil
	}
	st, err := s.reject(ctx, seen)
	if err != nil {
		return nil, err
	}
	return st.tok, nil
}

// SetToken starts a new session with tok, typically just obtained by logging
// in, and saves it to the Store. It ends any backoff and a previous
// ErrReauthRequired. If saving fails the token is used all the same and the
// error is returned. With a Locker, SetToken holds the lock while it saves,
// so that another process's refresh cannot overwrite the new login.
func (s *Source) SetToken(ctx context.Context, tok *oauth2.Token) error {
	if tok == nil || tok.AccessToken == "" {
		return errorf("SetToken: token has no access token")
	}
	st := s.newState(s.given(tok))
	unlock, err := s.lockStore(ctx)
	if err != nil {
		return errorf("SetToken: %w", err)
	}
	defer unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.store != nil {
		if err = s.cfg.store.Save(ctx, st.tok); err != nil {
			err = errorf("SetToken: save token: %w", err)
		} else {
			s.persisted = st.tok.AccessToken
		}
	}
	s.resetBackoffLocked()
	s.cur.Store(st)
	return err
}

// Logout ends the session: the token is forgotten and deleted from the
// Store. Later calls fail with ErrReauthRequired until SetToken. OnReauth is
// not called, since the user asked for it.
func (s *Source) Logout(ctx context.Context) error {
	unlock, err := s.lockStore(ctx)
	if err != nil {
		return errorf("Logout: %w", err)
	}
	defer unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur.Store(&state{err: errorf("logged out: %w", ErrReauthRequired)})
	s.persisted = ""
	if s.cfg.store != nil {
		if err := s.cfg.store.Delete(ctx); err != nil {
			return errorf("Logout: delete stored token: %w", err)
		}
	}
	return nil
}

// Wait blocks until the refreshes under way, including one running in the
// background or abandoned by a cancelled caller, have finished and saved
// their result, or until ctx is done. A short-lived process, such as a CLI
// command, should call it before it exits: a refresh cut short after the
// server rotated the refresh token, but before the new one was saved,
// would cost the session.
func (s *Source) Wait(ctx context.Context) error {
	s.waitMu.Lock()
	idle := s.idle
	running := s.running
	s.waitMu.Unlock()
	if running == 0 {
		return nil
	}
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// lockStore takes the Locker, when there is one and a Store to guard. The
// returned function releases it and logs a failure to do so.
func (s *Source) lockStore(ctx context.Context) (func(), error) {
	if s.cfg.store == nil || s.cfg.locker == nil {
		return func() {}, nil
	}
	unlock, err := s.cfg.locker.Lock(ctx)
	if err != nil {
		return nil, errorf("take refresh lock: %w", err)
	}
	return func() {
		if err := unlock(); err != nil {
			s.cfg.logger.Warn("tokenrefresh: release refresh lock", "err", err)
		}
	}, nil
}

// String describes the session without revealing any token.
func (s *Source) String() string {
	st := s.cur.Load()
	switch {
	case st == nil:
		return "tokenrefresh.Source{not loaded}"
	case st.err != nil:
		return "tokenrefresh.Source{session ended}"
	case !st.expires:
		return fmt.Sprintf("tokenrefresh.Source{type: %s, no expiry, refresh token: %t}", st.tok.Type(), st.tok.RefreshToken != "")
	}
	return fmt.Sprintf("tokenrefresh.Source{type: %s, expires: %s, refresh token: %t}",
		st.tok.Type(), st.tok.Expiry.Format(time.RFC3339), st.tok.RefreshToken != "")
}

// current is the hot path: one atomic load and one clock read while the
// token is fresh.
func (s *Source) current(ctx context.Context) (*state, error) {
	st := s.cur.Load()
	if st != nil {
		if st.err != nil {
			return nil, st.err
		}
		if !st.expires {
			return st, nil
		}
		now := s.cfg.now()
		if now.Before(st.earlyAt) {
			return st, nil
		}
		if now.Before(st.staleAt) {
			s.refreshInBackground(ctx, st)
			return st, nil
		}
	}
	st, err := s.refresh(ctx, st)
	if st != nil {
		return st, nil
	}
	return nil, err
}

// reject refreshes seen, a token a server refused. Unlike current, it never
// accepts seen back, even while it has not expired.
func (s *Source) reject(ctx context.Context, seen *state) (*state, error) {
	if cur := s.cur.Load(); cur != seen {
		// Already replaced: no need to wait for whatever refresh runs now.
		return cur.result()
	}
	st, err := s.refresh(ctx, seen)
	if st != nil && st != seen {
		return st, nil
	}
	if err == nil {
		err = errorf("token rejected and not refreshed: %w", ErrReauthRequired)
	}
	return nil, err
}

// refresh joins or starts the one refresh of seen and waits for it or for
// ctx. The refresh itself is detached from ctx, so a caller that gives up
// does not fail it for the others.
func (s *Source) refresh(ctx context.Context, seen *state) (*state, error) {
	for {
		ch := s.flight.DoChan("refresh", func() (any, error) {
			return s.runRefresh(context.WithoutCancel(ctx), seen)
		})
		select {
		case res := <-ch:
			st, _ := res.Val.(*state)
			if seen != nil && st == seen && res.Err == nil {
				// We joined the tail of a refresh of an older token,
				// which produced seen: ours has not started yet.
				continue
			}
			return st, res.Err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// refreshInBackground starts one refresh of seen without waiting for it.
func (s *Source) refreshInBackground(ctx context.Context, seen *state) {
	if s.backingOff() || !s.background.CompareAndSwap(false, true) {
		return
	}
	ctx = context.WithoutCancel(ctx)
	go func() {
		defer s.background.Store(false)
		s.flight.Do("refresh", func() (any, error) { return s.runRefresh(ctx, seen) })
	}()
}
