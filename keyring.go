package tokenrefresh

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/zalando/go-keyring"
	"golang.org/x/oauth2"
)

// KeyringStore is a Store in the OS keyring: Keychain on macOS, Credential
// Manager on Windows, the Secret Service (GNOME Keyring, KWallet) over D-Bus
// on Linux and BSD.
//
// The token is stored as compressed, versioned JSON. Tokens too big for one
// keyring item are split into chunks that fit every platform's limit, and a
// small manifest item under the account name points at them, so that a save
// interrupted at any point leaves the previous token readable.
//
// Every keyring call is bounded by the store's timeout (WithKeyringTimeout)
// as well as by ctx. A KeyringStore is safe for concurrent use; its operations
// run one at a time. Processes sharing an account should coordinate
// refreshes with a Locker.
type KeyringStore struct {
	service, account string
	backend          Keyring
	timeout          time.Duration
	extras           []string
	logger           *slog.Logger
	guard            guard
	file             *FileStore   // nil without WithFileFallback
	choice           atomic.Int32 // a backendChoice, once made
}

// NewKeyringStore returns a Store that keeps the token of account under
// service in the OS keyring.
func NewKeyringStore(service, account string, opts ...KeyringOption) *KeyringStore {
	c := keyringConfig{
		backend: systemKeyring{},
		timeout: DefaultKeyringTimeout,
		extras:  defaultExtraFields(),
		logger:  slog.Default(),
	}
	for _, o := range opts {
		o.applyKeyring(&c)
	}
	s := &KeyringStore{
		service: service,
		account: account,
		backend: c.backend,
		timeout: c.timeout,
		extras:  c.extras,
		logger:  c.logger,
		guard:   newGuard(),
	}
	if c.fallbackPath != "" {
		s.file = NewFileStore(c.fallbackPath, WithExtraFields(c.extras...))
	}
	return s
}

// Load implements Store.
func (s *KeyringStore) Load(ctx context.Context) (*oauth2.Token, error) {
	if s.UsingFile() {
		return s.file.Load(ctx)
	}
	var tok *oauth2.Token
	err := s.run(ctx, "load", func(ctx context.Context) (err error) {
		tok, err = s.load(ctx)
		return err
	})
	if s.fallBack(err) {
		return s.file.Load(ctx)
	}
	return tok, err
}

// Save implements Store.
func (s *KeyringStore) Save(ctx context.Context, tok *oauth2.Token) error {
	if s.UsingFile() {
		return s.file.Save(ctx, tok)
	}
	plain, err := encodeToken(tok, s.extras)
	if err != nil {
		return s.opError("save", s.account, err)
	}
	payload, err := encodePayload(plain)
	if err != nil {
		return s.opError("save", s.account, err)
	}
	gen, err := newGeneration()
	if err != nil {
		return s.opError("save", s.account, err)
	}
	lay, err := layoutPayload(s.service, s.account, payload, gen)
	if err != nil {
		return s.opError("save", s.account, err)
	}
	err = s.run(ctx, "save", func(ctx context.Context) error { return s.save(ctx, gen, lay) })
	if s.fallBack(err) {
		return s.file.Save(ctx, tok)
	}
	return err
}

// Delete implements Store. It removes the manifest and every chunk.
func (s *KeyringStore) Delete(ctx context.Context) error {
	if s.UsingFile() {
		return s.file.Delete(ctx)
	}
	err := s.run(ctx, "delete", s.delete)
	if s.fallBack(err) {
		return s.file.Delete(ctx)
	}
	return err
}

func (s *KeyringStore) load(ctx context.Context) (*oauth2.Token, error) {
	// A concurrent save in another process may delete the chunks of the
	// manifest just read; one re-read of the manifest picks up its successor.
	for attempt := 0; ; attempt++ {
		m, err := s.readManifest(ctx, "load")
		if err != nil {
			return nil, err
		}
		payload := m.Data
		if m.Chunks > 0 {
			chunks, missing, err := s.readChunks(ctx, m)
			if err != nil {
				return nil, err
			}
			if missing >= 0 {
				if attempt == 0 {
					continue
				}
				return nil, s.opError("load", s.account, fmt.Errorf("%w: chunk %d of %d (generation %s) is missing",
					ErrTokenCorrupt, missing, m.Chunks, m.Gen))
			}
			if payload, err = joinChunks(m, chunks); err != nil {
				return nil, s.opError("load", s.account, err)
			}
		}
		plain, err := decodePayload(payload)
		if err != nil {
			return nil, s.opError("load", s.account, err)
		}
		tok, err := decodeToken(plain)
		if err != nil {
			return nil, s.opError("load", s.account, err)
		}
		return tok, nil
	}
}

// readManifest returns the current manifest, or an error wrapping ErrNoToken.
func (s *KeyringStore) readManifest(ctx context.Context, op string) (manifest, error) {
	v, err := s.get(ctx, op, s.account)
	if isNotFound(err) {
		return manifest{}, s.opError(op, s.account, ErrNoToken)
	}
	if err != nil {
		return manifest{}, err
	}
	m, err := decodeManifest(v)
	if err != nil {
		return manifest{}, s.opError(op, s.account, err)
	}
	return m, nil
}

// readChunks fetches m's chunks; missing is the index of the first absent
// chunk, or -1.
func (s *KeyringStore) readChunks(ctx context.Context, m manifest) (chunks []string, missing int, err error) {
	chunks = make([]string, m.Chunks)
	for i := range chunks {
		v, err := s.get(ctx, "load", chunkUser(s.account, m.Gen, i))
		if isNotFound(err) {
			return nil, i, nil
		}
		if err != nil {
			return nil, -1, err
		}
		chunks[i] = v
	}
	return chunks, -1, nil
}

func (s *KeyringStore) save(ctx context.Context, gen string, lay layout) error {
	prev, err := s.readManifest(ctx, "save")
	if err != nil && !errors.Is(err, ErrNoToken) && !errors.Is(err, ErrTokenCorrupt) {
		return err
	}
	for i, c := range lay.chunks {
		if err := s.set(ctx, "save", chunkUser(s.account, gen, i), c); err != nil {
			// The manifest still names the previous generation, so the
			// chunks written so far are garbage. After a timeout the
			// keyring refuses calls until the hung one returns; the
			// garbage then stays, unreachable.
			if !errors.Is(err, ErrKeyringTimeout) && ctx.Err() == nil {
				s.discard(ctx, gen, i)
			}
			return err
		}
	}
	if err := s.set(ctx, "save", s.account, lay.manifest); err != nil {
		s.discardUnreferenced(ctx, gen, len(lay.chunks), err)
		return err
	}
	if prev.Chunks > 0 && prev.Gen != gen {
		s.discard(ctx, prev.Gen, prev.Chunks)
	}
	return nil
}

func (s *KeyringStore) delete(ctx context.Context) error {
	m, err := s.readManifest(ctx, "delete")
	switch {
	case errors.Is(err, ErrNoToken):
		return nil
	case err != nil && !errors.Is(err, ErrTokenCorrupt):
		return err
	}
	// Chunks go first: if this fails half way, the manifest remains and a
	// retried Delete finds the rest.
	for i := 0; i < m.Chunks; i++ {
		if err := s.del(ctx, "delete", chunkUser(s.account, m.Gen, i)); err != nil && !isNotFound(err) {
			return err
		}
	}
	if err := s.del(ctx, "delete", s.account); err != nil && !isNotFound(err) {
		return err
	}
	return nil
}

// discard deletes the first n chunks of gen, which no manifest references,
// logging failures: the token is already safe, and leftover chunks are
// unreachable garbage.
func (s *KeyringStore) discard(ctx context.Context, gen string, n int) {
	for i := 0; i < n; i++ {
		user := chunkUser(s.account, gen, i)
		if err := s.del(ctx, "save", user); err != nil && !isNotFound(err) {
			s.logger.Warn("tokenrefresh: could not delete an unused token chunk from the keyring",
				"service", s.service, "item", user, "err", err)
			return
		}
	}
}

// discardUnreferenced discards gen's chunks after a failed manifest write,
// unless the write may have happened anyway: a timed out call can still
// complete, so the chunks stay unless the manifest visibly does not use them.
func (s *KeyringStore) discardUnreferenced(ctx context.Context, gen string, n int, writeErr error) {
	if n == 0 || errors.Is(writeErr, ErrKeyringTimeout) || ctx.Err() != nil {
		return
	}
	m, err := s.readManifest(ctx, "save")
	if (err == nil && m.Gen != gen) || errors.Is(err, ErrNoToken) {
		s.discard(ctx, gen, n)
	}
}

// get, set and del are the backend calls. Their errors are complete except
// for "not found", which callers recognise with isNotFound.
func (s *KeyringStore) get(ctx context.Context, op, user string) (string, error) {
	return s.call(ctx, op, user, func() (string, error) { return s.backend.Get(s.service, user) })
}

func (s *KeyringStore) set(ctx context.Context, op, user, value string) error {
	_, err := s.call(ctx, op, user, func() (string, error) {
		err := s.backend.Set(s.service, user, value)
		if errors.Is(err, keyring.ErrSetDataTooBig) {
			err = fmt.Errorf("%w (item holds %d bytes)", err, len(value))
		}
		return "", err
	})
	return err
}

func (s *KeyringStore) del(ctx context.Context, op, user string) error {
	_, err := s.call(ctx, op, user, func() (string, error) { return "", s.backend.Delete(s.service, user) })
	return err
}

// newGeneration returns a random chunk generation. Random rather than
// counted, so two processes saving at once never share chunk names.
func newGeneration() (string, error) {
	b := make([]byte, genLen/2)
	if _, err := rand.Read(b); err != nil {
		return "", errorf("generate chunk generation: %w", err)
	}
	return hex.EncodeToString(b), nil
}
