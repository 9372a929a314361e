package tokenrefresh

import (
	"context"
	"fmt"
)

// Keyring backends are blocking calls that cannot be cancelled: a Secret
// Service waiting on an unlock prompt never returns. Each call therefore runs
// in its own goroutine and is abandoned at the deadline. To keep abandoned
// calls from piling up, a store lets at most one backend call run at a time;
// while an abandoned call is still running, new calls fail at once.

// guard serialises a store's operations and its backend calls.
type guard struct {
	ops      chan struct{} // held for a whole Load, Save or Delete
	inflight chan struct{} // held by a backend call until the backend returns
}

func newGuard() guard {
	return guard{ops: make(chan struct{}, 1), inflight: make(chan struct{}, 1)}
}

// run runs op exclusively of other operations on the store, waiting at
// most the store's timeout for them.
func (s *KeyringStore) run(ctx context.Context, op string, fn func(context.Context) error) error {
	wait, cancel := context.WithTimeoutCause(ctx, s.timeout, errKeyringDeadline)
	defer cancel()
	select {
	case s.guard.ops <- struct{}{}:
	case <-wait.Done():
		return s.deadlineError(wait, op, s.account, "waiting for another operation on this store")
	}
	defer func() { <-s.guard.ops }()
	return fn(ctx)
}

// call runs one backend call, giving up after the store's timeout or when
// ctx is done.
func (s *KeyringStore) call(ctx context.Context, op, user string, fn func() (string, error)) (string, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, s.timeout, errKeyringDeadline)
	defer cancel()
	if ctx.Err() != nil {
		return "", s.deadlineError(ctx, op, user, "before calling the keyring")
	}
	select {
	case s.guard.inflight <- struct{}{}:
	default:
		return "", s.opError(op, user, fmt.Errorf("%w: an earlier keyring call is still running after its timeout", ErrKeyringTimeout))
	}
	type result struct {
		v   string
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := fn()
		if err != nil && !isNotFound(err) {
			err = s.opError(op, user, classifyKeyringError(err))
		}
		// Released before the result is sent, so that a caller holding the
		// result can make its next call at once.
		<-s.guard.inflight
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		return "", s.deadlineError(ctx, op, user, "no answer")
	}
}

// deadlineError explains a done ctx: the store's own timeout becomes
// ErrKeyringTimeout, the caller's cancellation or deadline stays as is.
func (s *KeyringStore) deadlineError(ctx context.Context, op, user, what string) error {
	if context.Cause(ctx) == errKeyringDeadline {
		return s.opError(op, user, fmt.Errorf("%w: %s within %v: %w", ErrKeyringTimeout, what, s.timeout, ctx.Err()))
	}
	return s.opError(op, user, fmt.Errorf("%s: %w", what, context.Cause(ctx)))
}

// opError names the store, operation and keyring item in err.
func (s *KeyringStore) opError(op, user string, err error) error {
	if user == s.account {
		return describe(err, "keyring %s (service %q, account %q)", op, s.service, s.account)
	}
	return describe(err, "keyring %s (service %q, account %q, item %q)", op, s.service, s.account, user)
}
