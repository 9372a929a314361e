package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenrefresh/tokenrefresh"
)

const (
	// defaultService is the keyring service name; the account is the
	// server URL, so sessions with several servers do not clash.
	defaultService = "tokenrefresh-demo-cli"
	// serviceEnv overrides the service name, for tests and for keeping
	// separate profiles.
	serviceEnv = "TOKENREFRESH_CLI_SERVICE"
	// lockDirEnv puts the refresh lock files in another directory than
	// the user's cache directory, for tests.
	lockDirEnv = "TOKENREFRESH_CLI_LOCK_DIR"

	// userField is the extra token field holding the username. Keeping it
	// in the token means one keyring item per session, written and deleted
	// atomically with the token it describes.
	userField = "username"

	// httpTimeout bounds each login and refresh request.
	httpTimeout = 30 * time.Second
	// lockTimeout bounds login's and logout's wait for the refresh lock,
	// which another copy holds while it refreshes, and their store write.
	lockTimeout = httpTimeout
)

// session is the persistent session of one server: where it is stored, the
// lock that serialises refreshes between processes, and the Source.
type session struct {
	app     *app
	store   tokenrefresh.Store
	keyring *tokenrefresh.KeyringStore // store, unless --insecure-file-store
	locker  tokenrefresh.Locker
	src     *tokenrefresh.Source

	fallback string      // keyring fallback file, or ""
	ended    atomic.Bool // OnReauth ran: the server rejected the session
}

// openSession picks the store and the locker and builds the Source.
func (a *app) openSession() (*session, error) {
	s := &session{app: a}
	if a.filePath != "" {
		// The lock lives next to the file, so that every process sharing
		// the file shares the lock too.
		s.store = tokenrefresh.NewFileStore(a.filePath, tokenrefresh.WithExtraFields(userField))
		s.locker = tokenrefresh.NewFileLockerAt(a.filePath + ".lock")
	} else {
		// Without a D-Bus session bus (over SSH, in a container) the
		// keyring store reports ErrKeyringUnavailable at once, without
		// starting a bus, and falls back to the file.
		service := envOr(serviceEnv, defaultService)
		opts := []tokenrefresh.KeyringOption{
			tokenrefresh.WithExtraFields(userField),
			tokenrefresh.WithKeyringLogger(slog.New(&noticeHandler{prog: a.prog, w: a.stderr})),
		}
		if dir, err := os.UserConfigDir(); err == nil {
			s.fallback = filepath.Join(dir, service, "session-"+digest(service, a.server)+".json")
			opts = append(opts, tokenrefresh.WithFileFallback(s.fallback))
		}
		s.keyring = tokenrefresh.NewKeyringStore(service, a.server, opts...)
		s.store = s.keyring
		if dir := os.Getenv(lockDirEnv); dir != "" {
			s.locker = tokenrefresh.NewFileLockerAt(filepath.Join(dir, digest(service, a.server)+".lock"))
		} else {
			l, err := tokenrefresh.NewFileLocker(service, a.server)
			if err != nil {
				return nil, err
			}
			s.locker = l
		}
	}
	logger := slog.New(slog.DiscardHandler)
	if a.verbose {
		logger = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s.src = tokenrefresh.NewSource(
		keepUsername(tokenrefresh.JSONRefresher(a.server+"/refresh", &http.Client{Timeout: httpTimeout})),
		tokenrefresh.WithStore(s.store),
		tokenrefresh.WithLocker(s.locker),
		// A CLI exits right after its request: a background refresh could
		// be cut off after the server rotated the refresh token but before
		// the new one was saved. Refresh in the foreground only.
		tokenrefresh.WithEarlyRefresh(0),
		tokenrefresh.OnReauth(func(error) { s.ended.Store(true) }),
		tokenrefresh.WithLogger(logger),
	)
	return s, nil
}

// describe names the store in use. Call it after a store operation: only
// then does a keyring store know whether it fell back to its file.
func (s *session) describe() string {
	switch {
	case s.keyring == nil:
		return "file " + s.app.filePath + " (--insecure-file-store)"
	case s.keyring.UsingFile():
		return "file " + s.fallback + " (OS keyring unavailable)"
	}
	return fmt.Sprintf("OS keyring (service %q, account %q)", envOr(serviceEnv, defaultService), s.app.server)
}

// keepUsername carries the username of the current token over to the
// refreshed one, since the refresh response does not repeat it.
func keepUsername(r tokenrefresh.Refresher) tokenrefresh.Refresher {
	return tokenrefresh.RefresherFunc(func(ctx context.Context, cur *oauth2.Token) (*oauth2.Token, error) {
		tok, err := r.Refresh(ctx, cur)
		if err != nil {
			return nil, err
		}
		if u, ok := cur.Extra(userField).(string); ok && u != "" {
			tok = tok.WithExtra(map[string]any{userField: u})
		}
		return tok, nil
	})
}

// username returns the user a stored token belongs to.
func username(tok *oauth2.Token) string {
	if u, ok := tok.Extra(userField).(string); ok && u != "" {
		return u
	}
	return "(unknown user)"
}

// digest names per-session files after the service and account without
// putting a URL in a file name.
func digest(service, account string) string {
	sum := sha256.Sum256([]byte(service + "\x00" + account))
	return hex.EncodeToString(sum[:])[:16]
}

// noticeHandler turns the keyring store's warnings into one line each on
// stderr, naming the file of the fallback warning but leaving out the
// error details.
type noticeHandler struct {
	prog string
	w    io.Writer
}

func (h *noticeHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *noticeHandler) Handle(_ context.Context, r slog.Record) error {
	msg := strings.TrimPrefix(r.Message, "tokenrefresh: ")
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "path" {
			msg += ": " + a.Value.String()
		}
		return true
	})
	_, err := fmt.Fprintf(h.w, "%s: warning: %s\n", h.prog, msg)
	return err
}

func (h *noticeHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *noticeHandler) WithGroup(string) slog.Handler      { return h }
