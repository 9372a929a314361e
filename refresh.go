package tokenrefresh

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"golang.org/x/oauth2"
)

// refreshingKey marks the context of a refresh, so that a Transport on the
// refresher's own HTTP client passes the token request through untouched
// instead of waiting for the refresh it is part of.
type refreshingKey struct{}

// runRefresh runs one refresh in the single flight, then tells OnReauth if
// it ended the session. That happens after the refresh has released the
// Locker and stopped counting for Wait, so OnReauth may log in again with
// SetToken.
func (s *Source) runRefresh(ctx context.Context, seen *state) (any, error) {
	st, err := s.doRefresh(ctx, seen)
	s.mu.Lock()
	ended := s.ended
	s.ended = nil
	s.mu.Unlock()
	if ended != nil && s.cfg.onReauth != nil {
		s.cfg.onReauth(ended)
	}
	return st, err
}

// doRefresh runs inside the single flight. seen is the state the caller
// found wanting; a state that differs from it is newer and is returned as is.
//
// It returns a usable state with a nil error on success; a usable state and
// an error when the token could not be saved, or when a transient failure
// leaves the previous token valid for a while yet; and a nil state otherwise.
func (s *Source) doRefresh(ctx context.Context, seen *state) (*state, error) {
	if cur := s.cur.Load(); cur != seen || (seen != nil && seen.err != nil) {
		return cur.result()
	}
	if s.backingOff() {
		return s.stillValid(seen), s.transientErr()
	}
	ctx, cancel := context.WithTimeout(context.WithValue(ctx, refreshingKey{}, true), s.cfg.refreshTimeout)
	defer cancel()

	s.started()
	defer s.finished()
	unlock, err := s.lockStore(ctx)
	if err != nil {
		return s.failed(ctx, seen, nil, transient(0, "", 0, err))
	}
	defer unlock()

	base := seen.token()
	if s.cfg.store != nil && (seen == nil || s.cfg.locker != nil) {
		stored, err := s.cfg.store.Load(ctx)
		switch {
		case errors.Is(err, ErrNoToken) || errors.Is(err, ErrTokenCorrupt):
			// Nothing usable is stored: nobody logged in yet, or another
			// process logged out or ended the session. Refreshing our own
			// copy could undo a logout or spend a refresh token that a
			// rotation has made stale, so this session ends too.
			return s.publish(seen, &state{err: errorf("no usable stored token: %w: %w", err, ErrReauthRequired)}, nil)
		case err != nil:
			return s.failed(ctx, seen, base, transient(0, "", 0, errorf("load stored token: %w", err)))
		case seen == nil || s.foreign(stored, seen.tok):
			st := s.newState(cloneToken(stored))
			s.mu.Lock()
			s.persisted = stored.AccessToken
			s.mu.Unlock()
			adopted, err := s.publish(seen, st, nil)
			if adopted != st || st.fresh(s.cfg.now()) {
				s.cfg.logger.Debug("tokenrefresh: adopted token refreshed elsewhere")
				return adopted, err
			}
			// The stored token is newer but stale too: it is ours now, so
			// a failure below cannot bring back our older refresh token,
			// which rotation has spent. Refresh it.
			seen, base = st, st.tok
		}
	}
	if base == nil || base.RefreshToken == "" {
		return s.failed(ctx, seen, base, permanent(0, "", errors.New("no refresh token")))
	}

	s.cfg.logger.Debug("tokenrefresh: refreshing token")
	tok, err := s.callRefresher(ctx, base)
	if err != nil {
		return s.failed(ctx, seen, base, classify(err, base.RefreshToken, base.AccessToken))
	}
	return s.succeeded(ctx, seen, s.newState(s.normalize(tok, base)))
}

// started and finished keep count of refreshes under way, for Wait.
func (s *Source) started() {
	s.waitMu.Lock()
	defer s.waitMu.Unlock()
	if s.running == 0 {
		s.idle = make(chan struct{})
	}
	s.running++
}

func (s *Source) finished() {
	s.waitMu.Lock()
	defer s.waitMu.Unlock()
	s.running--
	if s.running == 0 {
		close(s.idle)
	}
}

// callRefresher calls the Refresher with a copy of base, so a Refresher
// cannot change the token in use.
func (s *Source) callRefresher(ctx context.Context, base *oauth2.Token) (*oauth2.Token, error) {
	tok, err := s.r.Refresh(ctx, cloneToken(base))
	if err == nil && (tok == nil || tok.AccessToken == "") {
		err = errors.New("refresher returned no access token")
	}
	return tok, err
}

// succeeded saves st before anyone can use it, then publishes it.
func (s *Source) succeeded(ctx context.Context, seen, st *state) (*state, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := s.cur.Load(); cur != seen {
		// SetToken or Logout won while we refreshed: theirs is the newer
		// word. Our token is dropped unsaved.
		return cur.result()
	}
	var saveErr error
	if s.cfg.store != nil {
		ctx, cancel := s.storeContext(ctx)
		defer cancel()
		if err := s.cfg.store.Save(ctx, st.tok); err != nil {
			// The old refresh token may be spent already, so the new token
			// is used regardless; the store catches up at the next save.
			saveErr = errorf("token refreshed but not saved: %w", err)
			s.cfg.logger.Error("tokenrefresh: save refreshed token", "err", err)
		} else {
			s.persisted = st.tok.AccessToken
		}
	}
	s.resetBackoffLocked()
	s.cur.Store(st)
	s.cfg.logger.Info("tokenrefresh: token refreshed", "expires", st.tok.Expiry)
	return st, saveErr
}

// failed handles a failed refresh of base.
func (s *Source) failed(ctx context.Context, seen *state, base *oauth2.Token, re *RefreshError) (*state, error) {
	if !re.Permanent {
		if s.cur.Load() != seen {
			// SetToken or Logout replaced the session meanwhile: this
			// failure is not the new session's.
			return s.cur.Load().result()
		}
		wait := s.backOff(re)
		s.cfg.logger.Warn("tokenrefresh: refresh failed, keeping the session", slog.Int("status", re.StatusCode),
			slog.String("code", re.ErrorCode), slog.Duration("retry_in", wait), slog.Any("err", re.Err))
		return s.stillValid(seen), re
	}
	// With rotation, another process may have spent the same refresh token
	// a moment ago and stored its result: adopt that rather than end the
	// session.
	if s.cfg.store != nil && base != nil {
		if stored, err := s.cfg.store.Load(ctx); err == nil && s.foreign(stored, base) {
			s.cfg.logger.Info("tokenrefresh: refresh token rejected, adopted newer stored token")
			s.mu.Lock()
			s.persisted = stored.AccessToken
			s.mu.Unlock()
			return s.publish(seen, s.newState(cloneToken(stored)), nil)
		}
	}
	s.mu.Lock()
	if cur := s.cur.Load(); cur != seen {
		s.mu.Unlock()
		return cur.result()
	}
	s.cur.Store(&state{err: re})
	s.persisted = ""
	s.ended = re
	var delErr error
	if s.cfg.store != nil {
		ctx, cancel := s.storeContext(ctx)
		delErr = s.cfg.store.Delete(ctx)
		cancel()
	}
	s.mu.Unlock()
	s.cfg.logger.Info("tokenrefresh: session ended, log in again", slog.Int("status", re.StatusCode), slog.String("code", re.ErrorCode))
	if delErr != nil {
		s.cfg.logger.Error("tokenrefresh: delete rejected token from store", "err", delErr)
	}
	return nil, re
}

// publish makes st current unless another writer got there first.
func (s *Source) publish(seen, st *state, err error) (*state, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := s.cur.Load(); cur != seen {
		return cur.result()
	}
	if st.err == nil {
		s.resetBackoffLocked()
	}
	s.cur.Store(st)
	if st.err != nil {
		return nil, st.err
	}
	return st, err
}

// foreign reports whether stored, read from the store, was written there by
// someone else since we last read or wrote it, and differs from ours.
func (s *Source) foreign(stored, ours *oauth2.Token) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return stored.AccessToken != ours.AccessToken && stored.AccessToken != s.persisted
}

// stillValid returns seen if its token has not expired yet, for callers
// that may keep using it while the token endpoint is failing.
func (s *Source) stillValid(seen *state) *state {
	if seen == nil || seen.err != nil || (seen.expires && !s.cfg.now().Before(seen.tok.Expiry)) {
		return nil
	}
	return seen
}

// storeContext gives a store write after a refresh a budget of its own:
// once the server has rotated the refresh token, running out of time in
// the refresh must not cost the new one.
func (s *Source) storeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), s.cfg.refreshTimeout)
}

// normalize copies tok, a token just received, keeps base's refresh token
// when the server sent no new one, and computes the expiry on the Source's
// clock. Stored tokens are not normalized: their expires_in is as old as
// they are, and only their expiry is still true.
func (s *Source) normalize(tok, base *oauth2.Token) *oauth2.Token {
	t := cloneToken(tok)
	if t.RefreshToken == "" && base != nil {
		t.RefreshToken = base.RefreshToken
	}
	if t.ExpiresIn > 0 {
		t.Expiry = s.cfg.now().Add(time.Duration(t.ExpiresIn) * time.Second)
	}
	return t
}

// given copies tok, a token handed in by the application (WithToken,
// SetToken). Its expiry is trusted when set: expires_in may have been
// saved with it long ago. Only a token without one gets it from
// expires_in, on the Source's clock.
func (s *Source) given(tok *oauth2.Token) *oauth2.Token {
	t := cloneToken(tok)
	if t.Expiry.IsZero() && t.ExpiresIn > 0 {
		t.Expiry = s.cfg.now().Add(time.Duration(t.ExpiresIn) * time.Second)
	}
	return t
}

// newState precomputes what the hot path needs for tok.
func (s *Source) newState(tok *oauth2.Token) *state {
	st := &state{tok: tok, auth: []string{tok.Type() + " " + tok.AccessToken}, expires: !tok.Expiry.IsZero()}
	if tok.AccessToken == "" {
		// Only a refresh token: stale from the start, so the first use
		// refreshes it. The zero times are always in the past.
		st.expires = true
		return st
	}
	if st.expires {
		// The lifetime is what the server said, or else, for a token from a
		// store or a login, what is left of it now.
		life := time.Duration(tok.ExpiresIn) * time.Second
		if life <= 0 {
			life = max(tok.Expiry.Sub(s.cfg.now()), 0)
		}
		st.staleAt = tok.Expiry.Add(-min(s.cfg.leeway, life/2))
		st.earlyAt = st.staleAt.Add(-min(s.cfg.early, life/4))
	}
	return st
}

// fresh reports whether st can be served without waiting for a refresh.
func (st *state) fresh(now time.Time) bool {
	return st.err == nil && (!st.expires || now.Before(st.staleAt))
}

// token returns st's token, or nil for a missing or ended session.
func (st *state) token() *oauth2.Token {
	if st == nil {
		return nil
	}
	return st.tok
}

// result is what a refresh returns when it finds st already current.
func (st *state) result() (*state, error) {
	if st == nil {
		return nil, errorf("no token: %w", ErrReauthRequired)
	}
	if st.err != nil {
		return nil, st.err
	}
	return st, nil
}
