package demoserver

import (
	"net/http"
)

// handleOAuth2Token serves POST /oauth2/token, the RFC 6749 section 3.2
// token endpoint with the password (4.3) and refresh_token (6) grants.
// Errors follow section 5.2: 400 for everything but invalid_client (401).
func (s *Server) handleOAuth2Token(w http.ResponseWriter, r *http.Request) {
	p, rerr := readParams(w, r, false)
	if rerr == nil {
		rerr = s.authenticateClient(r, p)
	}
	var grant string
	if rerr == nil {
		grant, rerr = p.required("grant_type")
	}
	if rerr != nil {
		s.rejectRequest(w, r, rerr)
		return
	}
	switch grant {
	case "password":
		s.passwordGrant(w, r, p)
	case "refresh_token":
		s.refreshGrant(w, r, p)
	default:
		s.rejectRequest(w, r, &requestError{status: http.StatusBadRequest, code: "unsupported_grant_type",
			desc: "supported grant types: password, refresh_token"})
	}
}

func (s *Server) passwordGrant(w http.ResponseWriter, r *http.Request, p params) {
	creds, rerr := p.requiredAll("username", "password")
	if rerr != nil {
		s.rejectRequest(w, r, rerr)
		return
	}
	tok, err := s.Login(creds[0], creds[1])
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_grant", "unknown user or wrong password")
		return
	}
	writeJSON(w, http.StatusOK, tok)
}

func (s *Server) refreshGrant(w http.ResponseWriter, r *http.Request, p params) {
	token, rerr := p.required("refresh_token")
	if rerr != nil {
		s.rejectRequest(w, r, rerr)
		return
	}
	tok, err := s.Refresh(r.Context(), token)
	if err != nil {
		s.writeRefreshError(w, err, http.StatusBadRequest)
		return
	}
	writeJSON(w, http.StatusOK, tok)
}
