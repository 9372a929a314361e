package demoserver

// RevokeSession revokes every usable session of username: all their access
// and refresh tokens stop working at once. It returns how many sessions were
// revoked.
func (s *Server) RevokeSession(username string) int {
	n := s.store.revokeUser(username, s.cfg.Now())
	s.log.Info("sessions revoked", "user", username, "count", n)
	return n
}

// RevokeAccessTokens revokes every currently valid access token while
// leaving refresh tokens valid, so every client's next API call gets a 401
// and must refresh: a "refresh storm". It returns how many tokens were
// revoked.
func (s *Server) RevokeAccessTokens() int {
	n := s.store.revokeAccess(s.cfg.Now())
	s.log.Info("access tokens revoked", "count", n)
	return n
}
