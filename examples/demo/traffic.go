package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
)

// exchange is one HTTP request and its answer, as the table shows them.
type exchange struct {
	sent   string // e.g. "GET /api/profile (Bearer k3Jd…)"
	answer string // e.g. "401 invalid_token"
	state  string // what it means for the client
	kind   string // "login", "refresh" or "api", for counting
	status int
}

// recorder is an http.RoundTripper that records every exchange. It sits
// under the tokenrefresh Transport, so it sees what really goes out.
type recorder struct {
	base http.RoundTripper
	mu   sync.Mutex
	log  []exchange
	// issued holds every token value the server sent, so tests can check
	// that none is printed.
	issued []string
}

func (rec *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := rec.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	ex, issued := describe(req, resp.StatusCode, body)
	rec.mu.Lock()
	rec.log = append(rec.log, ex)
	rec.issued = append(rec.issued, issued...)
	rec.mu.Unlock()
	return resp, nil
}

// take returns and forgets what was recorded so far.
func (rec *recorder) take() []exchange {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	out := rec.log
	rec.log = nil
	return out
}

// describe turns an exchange into table cells, with token values masked,
// and returns the token values the answer carried.
func describe(req *http.Request, status int, body []byte) (exchange, []string) {
	ex := exchange{status: status, sent: req.Method + " " + req.URL.Path}
	var answer struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		Error        string `json:"error"`
	}
	_ = json.Unmarshal(body, &answer)
	switch {
	case req.URL.Path == "/login":
		ex.kind, ex.sent = "login", ex.sent+" (username, password)"
	case req.URL.Path == "/refresh":
		ex.kind, ex.sent = "refresh", ex.sent+" (refresh token)"
	default:
		ex.kind = "api"
		if auth := req.Header.Get("Authorization"); auth != "" {
			scheme, tok, _ := strings.Cut(auth, " ")
			ex.sent += fmt.Sprintf(" (%s %s)", scheme, mask(tok))
		}
	}
	ex.answer = fmt.Sprintf("%d %s", status, http.StatusText(status))
	switch {
	case status == http.StatusOK && answer.AccessToken != "":
		ex.answer = fmt.Sprintf("200 access %s", mask(answer.AccessToken))
		if answer.RefreshToken != "" {
			ex.answer += ", refresh " + mask(answer.RefreshToken)
		}
	case answer.Error != "":
		ex.answer = fmt.Sprintf("%d %s", status, answer.Error)
	}
	ex.state = clientState(ex, answer.RefreshToken != "")
	return ex, []string{answer.AccessToken, answer.RefreshToken}
}

func clientState(ex exchange, rotated bool) string {
	switch {
	case ex.kind == "login" && ex.status == http.StatusOK:
		return "Received tokens"
	case ex.kind == "refresh" && ex.status == http.StatusOK && rotated:
		return "New access and refresh token"
	case ex.kind == "refresh" && ex.status == http.StatusOK:
		return "New access token"
	case ex.kind == "refresh":
		return "Refresh token rejected"
	case ex.status == http.StatusOK:
		return "Access token valid"
	case ex.status == http.StatusUnauthorized:
		return "Rejected: refresh and retry"
	}
	return "Unexpected answer"
}

// mask shows enough of a token to tell tokens apart, and never all of it.
func mask(tok string) string {
	if len(tok) < 12 {
		return "…"
	}
	return tok[:6] + "…"
}
