// Command cli is a small command-line client for the tokenrefresh demo
// server (internal/demoserver, run it with go run ./examples/server). It
// logs in once, keeps the session in the OS keyring, and from then on
// refreshes the access token by itself, sharing each refresh with any other
// copy of the command running at the same time.
//
//	cli [-server URL] [--insecure-file-store PATH] [-v] COMMAND [ARGS]
//
//	login [-u USER]  log in; the password is read without echo from the
//	                 terminal, or as one line from stdin when piped
//	get PATH         GET PATH (say /api/me) with the session; prints the body
//	status           who is logged in, token expiry, which store holds it
//	logout           forget the session
//
// The server is -server, else $TOKENREFRESH_DEMO_SERVER, else
// http://127.0.0.1:8080. Sessions are kept per server URL.
//
// Exit codes: 0 success, 1 error, 2 usage error, 3 login required (nobody
// is logged in, or the server rejected the saved session).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes, also listed in the package documentation.
const (
	exitOK            = 0
	exitError         = 1
	exitUsage         = 2
	exitLoginRequired = 3
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
