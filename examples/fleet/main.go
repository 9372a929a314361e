// Command fleet runs several replicas of one API client that share a
// tokenrefresh session through Redis, against the demo token server, and
// prints what each replica did:
//
//	go run ./examples/fleet [-redis 127.0.0.1:6379] [-replicas 3] [-goroutines 20] [-duration 6s] [-access-ttl 4s]
//
// Without -redis it starts a throwaway redis-server (on a free loopback
// port, no persistence) if one is on PATH. The access tokens live 4 seconds
// and rotate, with reuse detection, and half-way through the server revokes
// every access token: however many replicas and goroutines there are, the
// fleet refreshes about twice per token lifetime (a Source refreshes
// early, in the background, after half of it), and never reuses a refresh
// token.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "fleet:", err)
		os.Exit(1)
	}
}

// options are the command line flags.
type options struct {
	redisAddr  string
	replicas   int
	goroutines int
	duration   time.Duration
	accessTTL  time.Duration
}

func parseFlags(args []string, out io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("fleet", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.redisAddr, "redis", "", "Redis address; empty starts a redis-server from PATH")
	fs.IntVar(&o.replicas, "replicas", 3, "number of replicas")
	fs.IntVar(&o.goroutines, "goroutines", 20, "request goroutines per replica")
	fs.DurationVar(&o.duration, "duration", 6*time.Second, "how long the replicas send requests")
	fs.DurationVar(&o.accessTTL, "access-ttl", 4*time.Second, "access token lifetime")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.replicas < 1 || o.goroutines < 1 || o.duration <= 0 || o.accessTTL <= 0 {
		return o, errors.New("-replicas, -goroutines, -duration and -access-ttl must be positive")
	}
	return o, nil
}

func run(ctx context.Context, args []string, out io.Writer) error {
	o, err := parseFlags(args, out)
	if err != nil {
		return err
	}
	addr := o.redisAddr
	if addr == "" {
		rs, err := startRedis(ctx)
		if err != nil {
			return err
		}
		defer rs.stop()
		addr = rs.addr
		fmt.Fprintf(out, "started redis-server on %s\n", addr)
	}
	return runFleet(ctx, o, addr, out)
}
