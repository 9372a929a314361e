package demoserver

// Stats is a snapshot of a Server's counters since New.
type Stats struct {
	// Logins counts successful logins (any endpoint, and Server.Login).
	Logins int
	// LoginFailures counts logins rejected for bad credentials.
	LoginFailures int
	// Refreshes counts successful refreshes.
	Refreshes int
	// RefreshRejected counts refreshes rejected with invalid_grant (unknown,
	// expired, revoked or spent refresh token). Malformed requests are
	// counted in BadRequests instead.
	RefreshRejected int
	// ReuseDetected counts presentations of a spent (rotated) refresh token,
	// whether or not Config.DetectReuse then revoked the session. Each is
	// also counted in RefreshRejected.
	ReuseDetected int
	// RefreshCanceled counts refreshes abandoned because the request was
	// cancelled during Config.RefreshDelay.
	RefreshCanceled int
	// SessionsRevoked counts sessions revoked by reuse detection or
	// RevokeSession.
	SessionsRevoked int
	// APIRequests counts every request under /api/, authorised or not.
	APIRequests int
	// API401 counts /api/ requests answered 401 Unauthorized.
	API401 int
	// BadRequests counts malformed requests to the token endpoints (wrong
	// method, content type, body or parameters).
	BadRequests int
	// ClientAuthFailures counts /oauth2/token requests rejected with
	// invalid_client.
	ClientAuthFailures int
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	return s.store.snapshot()
}
