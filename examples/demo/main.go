// Command demo plays the whole token cycle against a local demo server and
// prints it as an execution table: log in, call the API, the access token
// expires, the 401 is caught, one refresh, the retry succeeds, the refresh
// token is rejected, log in again. It also sends many requests at the
// moment a token expires and shows that they share one refresh.
//
// It needs no setup: the server runs in the same process on a loopback
// port, on a simulated clock, so the whole cycle takes well under a second.
//
//	go run ./examples/demo [-goroutines 50] [-access-ttl 15m] [-rotate=false]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"
)

// options are the demo's flags.
type options struct {
	accessTTL  time.Duration
	refreshTTL time.Duration
	rotate     bool
	goroutines int
	color      bool
}

func main() {
	opts, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		os.Exit(2)
	}
	opts.color = useColor(os.Getenv("NO_COLOR"), term.IsTerminal(int(os.Stdout.Fd())))
	if err := run(context.Background(), opts, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.accessTTL, "access-ttl", 15*time.Minute, "access token lifetime (simulated time)")
	fs.DurationVar(&o.refreshTTL, "refresh-ttl", 24*time.Hour, "refresh token lifetime (simulated time)")
	fs.BoolVar(&o.rotate, "rotate", true, "rotate the refresh token on every refresh")
	fs.IntVar(&o.goroutines, "goroutines", 50, "concurrent requests when the token expires")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case o.accessTTL < 2*time.Second:
		return o, usage(fs, "-access-ttl must be at least 2s")
	case o.refreshTTL <= o.accessTTL:
		return o, usage(fs, "-refresh-ttl must be longer than -access-ttl")
	case o.goroutines < 1 || o.goroutines > 10000:
		return o, usage(fs, "-goroutines must be between 1 and 10000")
	}
	return o, nil
}

// useColor follows https://no-color.org: any NO_COLOR value turns colour
// off, and colour is only for terminals, never for logs or pipes.
func useColor(noColor string, terminal bool) bool {
	return noColor == "" && terminal
}

func usage(fs *flag.FlagSet, msg string) error {
	fmt.Fprintln(fs.Output(), "demo:", msg)
	fs.Usage()
	return fmt.Errorf("%s", msg)
}
