package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

const (
	defaultServer = "http://127.0.0.1:8080"
	serverEnv     = "TOKENREFRESH_DEMO_SERVER"
)

// app holds the global flags and the standard streams of one run.
type app struct {
	prog     string // program name, for messages
	server   string // base URL, without a trailing slash
	filePath string // --insecure-file-store, or ""
	verbose  bool

	stdin          io.Reader
	stdout, stderr io.Writer
}

// commands maps command names to their implementations.
var commands = map[string]func(*app, context.Context, []string) error{
	"login":  (*app).login,
	"get":    (*app).get,
	"status": (*app).status,
	"logout": (*app).logout,
}

// run runs the command line args (args[0] is the program) and returns the
// exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{prog: "cli", stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) > 0 {
		a.prog = filepath.Base(args[0])
		args = args[1:]
	}
	fs := flag.NewFlagSet(a.prog, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { a.usage(fs) }
	server := fs.String("server", envOr(serverEnv, defaultServer), "demo server `URL` (env "+serverEnv+")")
	fs.StringVar(&a.filePath, "insecure-file-store", "", "keep the session in the file at `PATH` instead of the OS keyring")
	fs.BoolVar(&a.verbose, "v", false, "log refreshes and store decisions to stderr (never token values)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage // the flag package has printed the error and usage
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return exitUsage
	}
	var err error
	if a.server, err = normalizeServer(*server); err != nil {
		return a.fail(usageErrorf("%v", err))
	}
	name := fs.Arg(0)
	if name == "help" {
		fs.SetOutput(stdout)
		fs.Usage()
		return exitOK
	}
	cmd, ok := commands[name]
	if !ok {
		return a.fail(usageErrorf("unknown command %q (want login, get, status or logout)", name))
	}
	return a.fail(cmd(a, ctx, fs.Args()[1:]))
}

func (a *app) usage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprintf(w, `usage: %s [flags] COMMAND [ARGS]

commands:
  login [-u USER]  log in (password from the terminal, or one line on stdin)
  get PATH         GET PATH (e.g. /api/me) with the saved session, print the body
  status           show who is logged in and when the access token expires
  logout           forget the saved session

flags:
`, a.prog)
	fs.PrintDefaults()
	fmt.Fprint(w, `
exit codes: 0 ok, 1 error, 2 usage, 3 login required
`)
}

// normalizeServer checks the server URL and strips a trailing slash, so that
// "http://h:1/" and "http://h:1" name the same session.
func normalizeServer(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("-server %q: want an http or https URL such as %s", s, defaultServer)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// subcommandFlags returns a flag set for a command's own flags.
func (a *app) subcommandFlags(name, args string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: %s %s %s\n", a.prog, name, args)
		fs.PrintDefaults()
	}
	return fs
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
