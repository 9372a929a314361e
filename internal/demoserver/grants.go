package demoserver

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"
)

// Login checks username and password and, if they match, starts a new
// session. It is the code path behind /login and the password grant of
// /oauth2/token, and updates the same counters. A mismatch returns
// ErrInvalidCredentials.
func (s *Server) Login(username, password string) (TokenResponse, error) {
	want, known := s.cfg.Users[username]
	// Constant time, so response timing does not reveal how much of a
	// guessed password was right.
	ok := known && subtle.ConstantTimeCompare([]byte(password), []byte(want)) == 1
	if !ok {
		s.store.count(func(st *Stats) { st.LoginFailures++ })
		if known {
			s.log.Info("login rejected", "user", username, "reason", "wrong password")
		} else {
			// The username is not logged: people type passwords into
			// the username field.
			s.log.Info("login rejected", "reason", "unknown user")
		}
		return TokenResponse{}, ErrInvalidCredentials
	}
	iss := s.store.startSession(username, s.cfg.Now(),
		newToken(s.cfg.AccessTokenSize), newToken(refreshTokenSize))
	s.log.Info("login", "user", username, "session", iss.sess.id)
	return newTokenResponse(iss, s.cfg.AccessTTL), nil
}

// Refresh redeems a refresh token, the code path behind /refresh and the
// refresh_token grant of /oauth2/token. It first waits Config.RefreshDelay;
// if ctx ends during the wait nothing is redeemed and ctx's error is
// returned. A rejected token yields an error matching ErrInvalidGrant and
// the reason (ErrTokenUnknown, ErrTokenExpired, ErrTokenRevoked or
// ErrTokenReused).
func (s *Server) Refresh(ctx context.Context, refreshToken string) (TokenResponse, error) {
	if err := s.refreshDelay(ctx); err != nil {
		s.store.count(func(st *Stats) { st.RefreshCanceled++ })
		s.log.Info("refresh abandoned", "reason", err.Error())
		return TokenResponse{}, fmt.Errorf("demoserver: refresh abandoned: %w", err)
	}
	var newRefresh string
	if s.cfg.Rotate {
		newRefresh = newToken(refreshTokenSize)
	}
	res := s.store.redeem(refreshToken, s.cfg.Now(), newToken(s.cfg.AccessTokenSize), newRefresh)
	if res.err != nil {
		s.logRefreshRejection(res)
		return TokenResponse{}, fmt.Errorf("%w: %w", ErrInvalidGrant, res.err)
	}
	s.log.Info("refresh", "user", res.sess.user, "session", res.sess.id, "rotated", res.refresh != "")
	return newTokenResponse(res.issued, s.cfg.AccessTTL), nil
}

// refreshDelay waits Config.RefreshDelay. An already cancelled ctx always
// wins, even with no delay, so a refresh nobody waits for never spends a
// token.
func (s *Server) refreshDelay(ctx context.Context) error {
	if err := context.Cause(ctx); err != nil || s.cfg.RefreshDelay <= 0 {
		return err
	}
	t := time.NewTimer(s.cfg.RefreshDelay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

func (s *Server) logRefreshRejection(res refreshResult) {
	attrs := []any{"reason", describe("refresh", res.err)}
	if res.sess != nil {
		attrs = append(attrs, "user", res.sess.user, "session", res.sess.id)
	}
	if errors.Is(res.err, ErrTokenReused) {
		s.log.Warn("refresh token reuse detected", append(attrs, "session_revoked", res.sessionRevoked)...)
		return
	}
	s.log.Info("refresh rejected", attrs...)
}

// authenticate handles the token check of an API request, logging
// rejections.
func (s *Server) authenticate(token, path string) (*session, error) {
	sess, err := s.store.apiRequest(token, s.cfg.Now())
	if err != nil {
		reason := describe("access", err)
		if errors.Is(err, errNoToken) {
			reason = errNoToken.Error()
		}
		attrs := []any{"path", path, "reason", reason}
		if sess != nil {
			attrs = append(attrs, "user", sess.user, "session", sess.id)
		}
		s.log.Info("api request rejected", attrs...)
		return nil, err
	}
	s.log.Debug("api request", "path", path, "user", sess.user, "session", sess.id)
	return sess, nil
}

// describe turns a rejection reason into an error_description such as
// "refresh token expired". The text is fixed per reason, so it is safe to
// log and to put in a WWW-Authenticate quoted string.
func describe(kind string, err error) string {
	for _, reason := range []error{ErrTokenUnknown, ErrTokenExpired, ErrTokenRevoked, ErrTokenReused} {
		if errors.Is(err, reason) {
			return kind + " " + reason.Error()
		}
	}
	return kind + " token rejected"
}
