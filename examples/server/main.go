// Command server runs the tokenrefresh demo token server
// (internal/demoserver) on a local address:
//
//	go run ./examples/server [-addr 127.0.0.1:8080] [-access-ttl 1m] [-rotate=false] ...
//
// It prints the demo users and endpoints, logs every login, refresh and
// rejection to stderr, and shuts down cleanly on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/tokenrefresh/tokenrefresh/internal/demoserver"
)

// shutdownGrace bounds how long in-flight requests (say, one stuck in
// -refresh-delay) may delay exit.
const shutdownGrace = 5 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	addr, cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	return serve(ctx, ln, cfg, stdout)
}

func parseFlags(args []string, stderr io.Writer) (addr string, cfg demoserver.Config, err error) {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&addr, "addr", "127.0.0.1:8080", "listen address")
	fs.DurationVar(&cfg.AccessTTL, "access-ttl", demoserver.DefaultAccessTTL, "access token lifetime")
	fs.DurationVar(&cfg.RefreshTTL, "refresh-ttl", demoserver.DefaultRefreshTTL, "refresh token lifetime")
	fs.BoolVar(&cfg.Rotate, "rotate", true, "issue a new refresh token on every refresh")
	fs.BoolVar(&cfg.DetectReuse, "detect-reuse", true, "revoke the session when a rotated refresh token is reused")
	fs.DurationVar(&cfg.RefreshDelay, "refresh-delay", 0, "artificial latency of every refresh")
	fs.IntVar(&cfg.AccessTokenSize, "token-size", demoserver.DefaultAccessTokenSize, "access token length in bytes")
	fs.StringVar(&cfg.ClientID, "client-id", "", "require this OAuth2 client id at /oauth2/token")
	fs.StringVar(&cfg.ClientSecret, "client-secret", "", "OAuth2 client secret, with -client-id")
	if err := fs.Parse(args); err != nil {
		return "", cfg, fmt.Errorf("parsing flags: %w", err)
	}
	if fs.NArg() > 0 {
		return "", cfg, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	cfg.Users = demoserver.DefaultUsers()
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	return addr, cfg, nil
}

// serve runs the demo server on ln until ctx is done.
func serve(ctx context.Context, ln net.Listener, cfg demoserver.Config, stdout io.Writer) error {
	hs := &http.Server{
		Handler:           demoserver.New(cfg),
		ReadHeaderTimeout: 10 * time.Second,
	}
	if cfg.Logger != nil {
		hs.ErrorLog = slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn)
	}
	printBanner(stdout, "http://"+ln.Addr().String(), cfg)

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	if cfg.Logger != nil {
		cfg.Logger.Info("shutting down")
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	err := hs.Shutdown(sctx)
	<-errc // http.ErrServerClosed, now that Shutdown has begun
	if err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	return nil
}

func printBanner(w io.Writer, base string, cfg demoserver.Config) {
	fmt.Fprintf(w, "tokenrefresh demo server on %s\n", base)
	fmt.Fprintf(w, "access TTL %v, refresh TTL %v, rotate %v, detect reuse %v\n",
		cfg.AccessTTL, cfg.RefreshTTL, cfg.Rotate, cfg.DetectReuse)
	fmt.Fprintln(w, "demo users (username / password):")
	for _, u := range slices.Sorted(maps.Keys(cfg.Users)) {
		fmt.Fprintf(w, "  %s / %s\n", u, cfg.Users[u])
	}
	fmt.Fprintf(w, "endpoints:\n"+
		"  POST %[1]s/login         {\"username\",\"password\"} (JSON or form)\n"+
		"  POST %[1]s/refresh       {\"refresh_token\"} (JSON or form)\n"+
		"  POST %[1]s/oauth2/token  RFC 6749: grant_type=password | refresh_token\n"+
		"  GET  %[1]s/api/...       Authorization: Bearer <access_token>\n", base)
}
