package demoserver

import (
	"errors"
	"net/http"
	"strings"
)

// errNoToken marks an API request without bearer credentials, which RFC 6750
// section 3.1 answers without an error code.
var errNoToken = errors.New("missing bearer token")

// apiResponse is the body of an authorised API request.
type apiResponse struct {
	User string `json:"user"`
	Path string `json:"path"`
}

// handleAPI serves any method under /api/: a protected resource that echoes
// who called it.
func (s *Server) handleAPI(w http.ResponseWriter, r *http.Request) {
	sess, err := s.authenticate(bearerToken(r), r.URL.Path)
	switch {
	case errors.Is(err, errNoToken):
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+Realm+`"`)
		writeError(w, http.StatusUnauthorized, "unauthorized", errNoToken.Error())
	case err != nil:
		desc := describe("access", err)
		w.Header().Set("WWW-Authenticate",
			`Bearer realm="`+Realm+`", error="invalid_token", error_description="`+desc+`"`)
		writeError(w, http.StatusUnauthorized, "invalid_token", desc)
	default:
		writeJSON(w, http.StatusOK, apiResponse{User: sess.user, Path: r.URL.Path})
	}
}

// bearerToken extracts the RFC 6750 section 2.1 credentials, or "" if the
// request carries none (including other schemes such as Basic).
func bearerToken(r *http.Request) string {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}
