package demoserver

import (
	"errors"
	"net/http"
)

// handleLogin serves POST /login, the simple non-OAuth2 login.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	p, rerr := readParams(w, r, true)
	if rerr != nil {
		s.rejectRequest(w, r, rerr)
		return
	}
	creds, rerr := p.requiredAll("username", "password")
	if rerr != nil {
		s.rejectRequest(w, r, rerr)
		return
	}
	tok, err := s.Login(creds[0], creds[1])
	if err != nil {
		writeError(w, http.StatusUnauthorized, "invalid_credentials", "unknown user or wrong password")
		return
	}
	writeJSON(w, http.StatusOK, tok)
}

// handleRefresh serves POST /refresh. Unlike /oauth2/token it answers a
// rejected refresh token with 401, which is what the simple API's clients
// expect.
func (s *Server) handleRefresh(w http.ResponseWriter, r *http.Request) {
	p, rerr := readParams(w, r, true)
	if rerr != nil {
		s.rejectRequest(w, r, rerr)
		return
	}
	token, rerr := p.required("refresh_token")
	if rerr != nil {
		s.rejectRequest(w, r, rerr)
		return
	}
	tok, err := s.Refresh(r.Context(), token)
	if err != nil {
		s.writeRefreshError(w, err, http.StatusUnauthorized)
		return
	}
	writeJSON(w, http.StatusOK, tok)
}

// writeRefreshError answers a failed Refresh: invalid_grant with the given
// status, or 503 if the client gave up during RefreshDelay (it will most
// likely never read the answer).
func (s *Server) writeRefreshError(w http.ResponseWriter, err error, status int) {
	if !errors.Is(err, ErrInvalidGrant) {
		writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "refresh abandoned")
		return
	}
	writeError(w, status, "invalid_grant", describe("refresh", err))
}
