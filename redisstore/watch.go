package redisstore

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tokenrefresh/tokenrefresh"
	"golang.org/x/oauth2"
)

// Watch timings: how long a quiet subscription waits before it pings Redis
// to find out whether the connection is alive, and the bounds of the wait
// before it reconnects after an error.
const (
	watchPing       = 30 * time.Second
	watchMinBackoff = 100 * time.Millisecond
	watchMaxBackoff = 5 * time.Second
)

// A WatchOption configures Watch.
type WatchOption func(*watchConfig)

type watchConfig struct {
	onSubscribed func()
	onAdopt      func()
}

// OnSubscribed registers fn to be called each time Watch has (re)subscribed
// to the channel and caught up with the store: from then on it sees every
// change. fn must not block.
func OnSubscribed(fn func()) WatchOption { return func(c *watchConfig) { c.onSubscribed = fn } }

// OnAdopt registers fn to be called each time Watch made the Source take up
// a token that another replica stored. Tokens saved through the same Store
// value are taken for the Source's own, so give each Source its own Store
// for this count to be exact. fn must not block.
func OnAdopt(fn func()) WatchOption { return func(c *watchConfig) { c.onAdopt = fn } }

// Watch keeps src in step with the store until ctx is done, then returns
// ctx's error. src must use this Store (tokenrefresh.WithStore) and a
// Locker shared with the other replicas.
//
// When another replica saves a new token, Watch makes src take it up at
// once, rather than when src's own copy goes stale. It does so through the
// Source's ordinary coordination: it reports src's current token as
// superseded (Source.Reject), and the Source takes the lock, reads the store
// and adopts the newer token found there, without a refresh. (Should the
// stored token be stale already, the Source refreshes it, as its next
// request would.) Watch never saves a token itself. It also catches up each time it (re)subscribes, for
// changes made while it was not listening.
//
// A Source whose session has ended (tokenrefresh.ErrReauthRequired) is left
// alone: it needs SetToken. Notifications are an optimisation only: without
// Watch, or while Redis Pub/Sub is down, replicas still refresh once between
// them.
func (s *Store) Watch(ctx context.Context, src *tokenrefresh.Source, opts ...WatchOption) error {
	var cfg watchConfig
	for _, o := range opts {
		o(&cfg)
	}
	ps := s.client.Subscribe(ctx, s.channel)
	defer ps.Close()
	// Receive does not return on cancellation by itself; closing does.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer stop()

	backoff := watchMinBackoff
	for {
		msg, err := ps.ReceiveTimeout(ctx, watchPing)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			if isTimeout(err) {
				_ = ps.Ping(ctx) // a dead connection fails the next Receive
				continue
			}
			s.logger.Warn("redisstore: watch: receive failed, resubscribing", "channel", s.channel, "retry_in", backoff, "err", err)
			if !wait(ctx, backoff) {
				return ctx.Err()
			}
			backoff = min(2*backoff, watchMaxBackoff)
			continue
		}
		backoff = watchMinBackoff
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				s.catchUp(ctx, src, "", cfg)
				if cfg.onSubscribed != nil {
					cfg.onSubscribed()
				}
			}
		case *redis.Message:
			if m.Payload != deletedMessage {
				s.catchUp(ctx, src, m.Payload, cfg)
			}
		}
	}
}

// catchUp makes src adopt the stored token if it differs from src's.
// announced is the fingerprint from a notification, or empty when catching
// up after (re)subscribing.
func (s *Store) catchUp(ctx context.Context, src *tokenrefresh.Source, announced string, cfg watchConfig) {
	var stored, cur *oauth2.Token
	var err error
	if announced == "" {
		// Read the store first: asking an unloaded Source for its token
		// while the store is empty would end its session before any login.
		if stored, err = s.loadForWatch(ctx); err != nil {
			return
		}
	}
	if cur, err = src.TokenContext(ctx); err != nil {
		// Session ended, or no usable token while refreshes fail: nothing
		// to compare with, and the Source coordinates on its next use.
		return
	}
	if announced != "" {
		if s.codec.fingerprint(cur.AccessToken) == announced {
			return // our own save, or already adopted
		}
		if stored, err = s.loadForWatch(ctx); err != nil {
			return
		}
		if s.codec.fingerprint(stored.AccessToken) != announced {
			return // superseded already; its own notification follows
		}
	}
	if stored.AccessToken == cur.AccessToken {
		return
	}
	// Reject returns the replacement without a refresh if src moved on in
	// the meantime; otherwise src takes the lock, reloads the store and
	// adopts the newer token.
	next, err := src.Reject(ctx, cur)
	if err != nil {
		s.logger.Warn("redisstore: watch: adopt stored token", "key", s.key, "err", err)
		return
	}
	// A notification of this Store's own save can overtake the saving
	// Source's switch to the token; Reject then merely waited for it.
	own := announced != "" && s.saved.Load() == announced
	if next.AccessToken != cur.AccessToken && !own {
		s.logger.Debug("redisstore: watch: adopted token stored by another replica", "key", s.key)
		if cfg.onAdopt != nil {
			cfg.onAdopt()
		}
	}
}

// loadForWatch loads the stored token, logging failures other than an
// empty store.
func (s *Store) loadForWatch(ctx context.Context) (*oauth2.Token, error) {
	tok, err := s.Load(ctx)
	if err != nil && !errors.Is(err, tokenrefresh.ErrNoToken) {
		s.logger.Warn("redisstore: watch: load stored token", "key", s.key, "err", err)
	}
	return tok, err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// wait waits for d or until ctx is done, and reports whether d passed.
func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
