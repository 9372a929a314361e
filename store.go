package tokenrefresh

import (
	"context"
	"errors"
	"sync"

	"golang.org/x/oauth2"
)

// ErrNoToken is returned by a Store's Load when it holds no token.
var ErrNoToken = errors.New("tokenrefresh: no token stored")

// A Store persists the current token between runs or shares it between
// processes. Implementations must be safe for concurrent use.
//
// A Source reads its store when it starts and when it coordinates a refresh,
// never on the per-request path, so a slow store costs refreshes, not requests.
type Store interface {
	// Load returns the stored token, or an error wrapping ErrNoToken when
	// there is none.
	Load(ctx context.Context) (*oauth2.Token, error)
	// Save replaces the stored token.
	Save(ctx context.Context, tok *oauth2.Token) error
	// Delete removes the stored token. Deleting an empty store is not an error.
	Delete(ctx context.Context) error
}

// MemoryStore is a Store that keeps the token in memory. It is safe for
// concurrent use. Saved and loaded tokens are copies, so callers cannot
// change the stored token by accident.
type MemoryStore struct {
	mu  sync.Mutex
	tok *oauth2.Token
}

// NewMemoryStore returns a MemoryStore holding tok, which may be nil.
func NewMemoryStore(tok *oauth2.Token) *MemoryStore {
	return &MemoryStore{tok: cloneToken(tok)}
}

// Load implements Store.
func (s *MemoryStore) Load(context.Context) (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok == nil {
		return nil, ErrNoToken
	}
	return cloneToken(s.tok), nil
}

// Save implements Store.
func (s *MemoryStore) Save(_ context.Context, tok *oauth2.Token) error {
	if tok == nil {
		return errors.New("tokenrefresh: MemoryStore.Save: nil token")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tok = cloneToken(tok)
	return nil
}

// Delete implements Store.
func (s *MemoryStore) Delete(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tok = nil
	return nil
}

// cloneToken returns a shallow copy of tok. Copying the struct value keeps
// its unexported extra fields (oauth2.Token.Extra), which are never mutated
// after decoding and so may be shared.
func cloneToken(tok *oauth2.Token) *oauth2.Token {
	if tok == nil {
		return nil
	}
	c := *tok
	return &c
}
