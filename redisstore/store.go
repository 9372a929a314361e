package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
	"github.com/tokenrefresh/tokenrefresh"
	"golang.org/x/oauth2"
)

// maxSaveAttempts bounds how often Save retries when another writer changes
// the key between Save's read and its write.
const maxSaveAttempts = 5

// Store is a tokenrefresh.Store that keeps the token in Redis under one key,
// shared by every replica of a fleet. It is safe for concurrent use.
//
// The token is stored as JSON (access token, type, refresh token, absolute
// expiry), sealed with AES-256-GCM when WithEncryptionKey is given. Other
// fields of oauth2.Token, such as an ID token in Extra, are not kept.
type Store struct {
	client  redis.UniversalClient
	key     string
	channel string
	codec   *codec
	logger  *slog.Logger
	// saved is the fingerprint of the last token this Store saved, so
	// that Watch can tell its own Source's saves from other replicas'.
	saved atomic.Value // string
}

var _ tokenrefresh.Store = (*Store)(nil)

// NewStore returns a Store keeping the token under key. It fails only when
// an encryption key is given and is not 32 bytes long.
func NewStore(client redis.UniversalClient, key string, opts ...StoreOption) (*Store, error) {
	cfg := storeConfig{channel: key + ":changed", logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(&cfg)
	}
	c, err := newCodec(key, cfg.encKey)
	if err != nil {
		return nil, err
	}
	return &Store{client: client, key: key, channel: cfg.channel, codec: c, logger: cfg.logger}, nil
}

// Key returns the Redis key holding the token.
func (s *Store) Key() string { return s.key }

// Channel returns the Pub/Sub channel that announces changes.
func (s *Store) Channel() string { return s.channel }

// Load implements tokenrefresh.Store. It returns an error wrapping
// tokenrefresh.ErrNoToken when the key does not exist, and one wrapping
// ErrDecrypt when the value cannot be read with this Store's key.
func (s *Store) Load(ctx context.Context) (*oauth2.Token, error) {
	v, err := s.client.Get(ctx, s.key).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, errorf("load %s: %w", s.key, tokenrefresh.ErrNoToken)
	case err != nil:
		return nil, errorf("load %s: %w", s.key, err)
	}
	tok, err := s.codec.decode(v)
	if err != nil {
		return nil, errorf("load %s: %w", s.key, err)
	}
	return tok, nil
}

// Save implements tokenrefresh.Store, then announces the new token on the
// store's channel. It refuses, with an error wrapping ErrDecrypt, to replace
// a stored value that this Store cannot read, so a replica configured with
// the wrong key never overwrites the fleet's token. A failed announcement is
// not an error: the token is saved, and replicas find it when they next
// coordinate a refresh.
func (s *Store) Save(ctx context.Context, tok *oauth2.Token) error {
	if tok == nil || tok.AccessToken == "" {
		return errorf("save %s: token has no access token", s.key)
	}
	v, err := s.codec.encode(tok)
	if err != nil {
		return err
	}
	if err := s.swap(ctx, v); err != nil {
		return errorf("save %s: %w", s.key, err)
	}
	f := s.codec.fingerprint(tok.AccessToken)
	s.saved.Store(f)
	s.announce(ctx, f)
	return nil
}

// swap writes v unless the key holds a value this Store cannot read,
// atomically with that check (WATCH/MULTI).
func (s *Store) swap(ctx context.Context, v []byte) error {
	txf := func(tx *redis.Tx) error {
		old, err := tx.Get(ctx, s.key).Bytes()
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		if err == nil && !s.codec.readable(old) {
			return fmt.Errorf("refusing to overwrite a token this store cannot read: %w", ErrDecrypt)
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, s.key, v, 0)
			return nil
		})
		return err
	}
	var err error
	for range maxSaveAttempts {
		if err = s.client.Watch(ctx, txf, s.key); !errors.Is(err, redis.TxFailedErr) {
			return err
		}
	}
	return err
}

// Delete implements tokenrefresh.Store and announces the deletion.
func (s *Store) Delete(ctx context.Context) error {
	if err := s.client.Del(ctx, s.key).Err(); err != nil {
		return errorf("delete %s: %w", s.key, err)
	}
	s.announce(ctx, deletedMessage)
	return nil
}

// deletedMessage is announced when the token is deleted. It cannot be a
// fingerprint, which is hexadecimal.
const deletedMessage = "deleted"

func (s *Store) announce(ctx context.Context, msg string) {
	if err := s.client.Publish(ctx, s.channel, msg).Err(); err != nil {
		s.logger.Warn("redisstore: announce token change", "channel", s.channel, "err", err)
	}
}
