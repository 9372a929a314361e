package demoserver

import (
	"crypto/subtle"
	"net/http"
	"net/url"
)

// authenticateClient enforces RFC 6749 section 2.3.1 client authentication
// on /oauth2/token when Config.ClientID is set.
func (s *Server) authenticateClient(r *http.Request, p params) *requestError {
	if s.cfg.ClientID == "" {
		return nil
	}
	formID, rerr := p.optional("client_id")
	if rerr != nil {
		return rerr
	}
	formSecret, rerr := p.optional("client_secret")
	if rerr != nil {
		return rerr
	}
	id, secret, basic := r.BasicAuth()
	switch {
	case basic && formSecret != "":
		return badRequest("more than one client authentication method")
	case basic:
		// RFC 6749 section 2.3.1 form-encodes both halves before Basic
		// encoding them; x/oauth2 does so too.
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return invalidClient("malformed client credentials")
		}
	default:
		id, secret = formID, formSecret
	}
	if id == "" {
		return invalidClient("client authentication required")
	}
	idOK := subtle.ConstantTimeCompare([]byte(id), []byte(s.cfg.ClientID))
	secretOK := subtle.ConstantTimeCompare([]byte(secret), []byte(s.cfg.ClientSecret))
	if idOK&secretOK != 1 {
		return invalidClient("client authentication failed")
	}
	return nil
}

func invalidClient(desc string) *requestError {
	return &requestError{status: http.StatusUnauthorized, code: "invalid_client", desc: desc}
}
