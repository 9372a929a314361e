package interop

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/ory/fosite"
	"github.com/ory/fosite/storage"
)

// lockedStore is fosite's in-memory store behind one read-write lock, with
// a counter of refresh token reuse detections.
//
// The lock is needed: storage.MemoryStore.RevokeRefreshToken (which
// RotateRefreshToken calls on every refresh) writes the RefreshTokens map
// while holding only refreshTokenRequestIDsMutex, so it races with
// GetRefreshTokenSession, which token introspection calls for every bearer
// token it cannot find among the access tokens. Under -race that is a
// reported race, and without it a possible "concurrent map read and map
// write" crash. Only the token methods the composed handlers use are
// wrapped; MemoryStore's own methods call each other directly, so the lock
// is never taken twice.
type lockedStore struct {
	*storage.MemoryStore

	// keepAccessToken makes RotateRefreshToken leave the access token of
	// the grant alone.
	keepAccessToken bool

	mu sync.RWMutex
	// reuseDetections counts how often fosite's refresh handler detected a
	// refresh token that was already inactive (rotated or revoked) and
	// revoked the whole token family: DeleteRefreshTokenSession has no
	// other caller in fosite.
	reuseDetections atomic.Int64
}

func newLockedStore(keepAccessToken bool) *lockedStore {
	return &lockedStore{MemoryStore: storage.NewMemoryStore(), keepAccessToken: keepAccessToken}
}

func (s *lockedStore) CreateAccessTokenSession(ctx context.Context, signature string, req fosite.Requester) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.MemoryStore.CreateAccessTokenSession(ctx, signature, req)
}

func (s *lockedStore) GetAccessTokenSession(ctx context.Context, signature string, sess fosite.Session) (fosite.Requester, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.MemoryStore.GetAccessTokenSession(ctx, signature, sess)
}

func (s *lockedStore) DeleteAccessTokenSession(ctx context.Context, signature string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.MemoryStore.DeleteAccessTokenSession(ctx, signature)
}

func (s *lockedStore) CreateRefreshTokenSession(ctx context.Context, signature, accessSignature string, req fosite.Requester) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.MemoryStore.CreateRefreshTokenSession(ctx, signature, accessSignature, req)
}

func (s *lockedStore) GetRefreshTokenSession(ctx context.Context, signature string, sess fosite.Session) (fosite.Requester, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.MemoryStore.GetRefreshTokenSession(ctx, signature, sess)
}

func (s *lockedStore) DeleteRefreshTokenSession(ctx context.Context, signature string) error {
	s.reuseDetections.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.MemoryStore.DeleteRefreshTokenSession(ctx, signature)
}

func (s *lockedStore) RotateRefreshToken(ctx context.Context, requestID, signature string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keepAccessToken {
		return s.MemoryStore.RevokeRefreshToken(ctx, requestID)
	}
	return s.MemoryStore.RotateRefreshToken(ctx, requestID, signature)
}

func (s *lockedStore) RevokeRefreshToken(ctx context.Context, requestID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.MemoryStore.RevokeRefreshToken(ctx, requestID)
}

func (s *lockedStore) RevokeAccessToken(ctx context.Context, requestID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.MemoryStore.RevokeAccessToken(ctx, requestID)
}
