package demoserver

import (
	"encoding/json"
	"net/http"
)

// errorBody is the RFC 6749 section 5.2 error shape, used by every endpoint.
type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// writeJSON sends v. Every answer is marked no-store: token responses must
// be (RFC 6749 section 5.1) and nothing else here is worth caching.
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	// The only possible failure is the client going away; there is no one
	// left to tell.
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, errorBody{Error: code, Description: desc})
}

// rejectRequest answers a malformed or unauthenticated request and counts
// it.
func (s *Server) rejectRequest(w http.ResponseWriter, r *http.Request, e *requestError) {
	if e.code == "invalid_client" {
		s.store.count(func(st *Stats) { st.ClientAuthFailures++ })
		// RFC 6749 section 5.2 requires the challenge when the client
		// tried HTTP Basic; sending it always also tells clients that
		// tried nothing what to use.
		w.Header().Set("WWW-Authenticate", `Basic realm="`+Realm+`"`)
	} else {
		s.store.count(func(st *Stats) { st.BadRequests++ })
	}
	s.log.Info("request rejected", "path", r.URL.Path, "status", e.status, "error", e.code, "reason", e.desc)
	writeError(w, e.status, e.code, e.desc)
}
