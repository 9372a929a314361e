// Package demoserver is an in-memory OAuth2-style token server used by the
// tokenrefresh demo program, examples, cross-process tests, fleet tests and
// benchmarks. It is deliberately small and deterministic rather than
// production grade: tokens live only in memory and every expiry decision goes
// through an injectable clock, so tests can move time without sleeping.
//
// A *Server is an http.Handler serving:
//
//	POST /login         JSON or form {username, password} -> token JSON
//	POST /refresh       JSON or form {refresh_token}      -> token JSON
//	POST /oauth2/token  RFC 6749 token endpoint (password and refresh_token grants)
//	ANY  /api/...       protected resource, requires "Authorization: Bearer <access token>"
//
// Each successful login starts a session: a family of access and refresh
// tokens that can be revoked as a whole. With Config.Rotate every refresh
// spends the presented refresh token and issues a new one; with
// Config.DetectReuse, presenting a spent refresh token again is treated as
// theft and revokes the whole session.
//
// Token values and passwords are never logged.
package demoserver
