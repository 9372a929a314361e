package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tokenrefresh/tokenrefresh"
)

// exitStatus ends the run with code, printing msg unless it is empty.
type exitStatus struct {
	code int
	msg  string
}

func (e *exitStatus) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &exitStatus{code: exitUsage, msg: fmt.Sprintf(format, args...)}
}

// silent ends the run with code after the command has said everything.
func silent(code int) error { return &exitStatus{code: code} }

// flagError converts a subcommand's flag parsing error, which the flag
// package has already printed.
func flagError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return silent(exitOK)
	}
	return silent(exitUsage)
}

// explain turns an error that ended the session into a login-required
// error that says why.
func (s *session) explain(err error) error {
	if !errors.Is(err, tokenrefresh.ErrReauthRequired) || errors.Is(err, tokenrefresh.ErrTokenCorrupt) {
		return err // fail explains a damaged store itself
	}
	if s.ended.Load() {
		return &exitStatus{code: exitLoginRequired, msg: fmt.Sprintf(
			"the session with %s has ended (the server rejected it); run '%s login' to log in again",
			s.app.server, s.app.prog)}
	}
	return &exitStatus{code: exitLoginRequired, msg: fmt.Sprintf(
		"not logged in to %s; run '%s login' first", s.app.server, s.app.prog)}
}

// fail reports err, if any, on one line of stderr and returns the exit
// code. Errors from tokenrefresh never contain token values, and the
// commands never format one into an error.
func (a *app) fail(err error) int {
	if err == nil {
		return exitOK
	}
	code, msg := exitError, err.Error()
	var ee *exitStatus
	switch {
	case errors.As(err, &ee):
		code, msg = ee.code, ee.msg
	case errors.Is(err, tokenrefresh.ErrTokenCorrupt):
		code = exitLoginRequired
		msg = fmt.Sprintf("the saved session is unreadable; run '%s login' to replace it (%v)", a.prog, err)
	case errors.Is(err, tokenrefresh.ErrReauthRequired):
		code = exitLoginRequired
		msg = fmt.Sprintf("login required; run '%s login'", a.prog)
	case errors.Is(err, tokenrefresh.ErrKeyringTimeout):
		msg += " (unlock the keyring, or use --insecure-file-store)"
	}
	if msg != "" {
		fmt.Fprintf(a.stderr, "%s: %s\n", a.prog, oneLine(msg))
	}
	return code
}

// oneLine keeps a message on one line whatever a server put in it.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// serverMessage extracts an OAuth2-style error description from an error
// body, never the raw body.
func serverMessage(body []byte) string {
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(body, &e) != nil || e.Error == "" {
		return ""
	}
	if e.Description == "" {
		return " (" + e.Error + ")"
	}
	return " (" + e.Error + ": " + e.Description + ")"
}

// writeBody prints a response body, ending it with a newline.
func writeBody(w io.Writer, body []byte) error {
	if len(body) > 0 && body[len(body)-1] != '\n' {
		body = append(body, '\n')
	}
	_, err := w.Write(body)
	return err
}

// statusLines is what status prints; it holds no token value.
type statusLines struct {
	server, store, user string
	expiry, now         time.Time
	refresh             bool
}

func printStatus(w io.Writer, st statusLines) {
	fmt.Fprintf(w, "Server:        %s\n", st.server)
	fmt.Fprintf(w, "Session store: %s\n", st.store)
	if st.user == "" {
		fmt.Fprintln(w, "Logged in:     no")
		return
	}
	fmt.Fprintf(w, "Logged in as:  %s\n", st.user)
	switch {
	case st.expiry.IsZero():
		fmt.Fprintln(w, "Access token:  no expiry")
	case st.now.Before(st.expiry):
		fmt.Fprintf(w, "Access token:  expires %s (in %s)\n", st.expiry.Local().Format(time.RFC3339), roughly(st.expiry.Sub(st.now)))
	default:
		fmt.Fprintf(w, "Access token:  expired %s (%s ago); refreshed on next use\n", st.expiry.Local().Format(time.RFC3339), roughly(st.now.Sub(st.expiry)))
	}
	if st.refresh {
		fmt.Fprintln(w, "Refresh token: present")
	} else {
		fmt.Fprintln(w, "Refresh token: none (log in again when the access token expires)")
	}
}

// roughly formats d to the second.
func roughly(d time.Duration) string {
	return d.Round(time.Second).String()
}
