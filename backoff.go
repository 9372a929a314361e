package tokenrefresh

import (
	"math/rand/v2"
	"time"
)

// backOff records a transient failure and returns how long refresh attempts
// are held back: doubling from the minimum with each consecutive failure,
// jittered so that many clients do not retry in step, and never shorter
// than the server's Retry-After (within the maximum).
func (s *Source) backOff(re *RefreshError) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures++
	s.lastErr = re
	wait := s.cfg.minBackoff << min(s.failures-1, 30)
	if wait <= 0 || wait > s.cfg.maxBackoff {
		wait = s.cfg.maxBackoff
	}
	wait = wait/2 + rand.N(wait/2+1)
	if re.RetryAfter > wait {
		wait = min(re.RetryAfter, s.cfg.maxBackoff)
	}
	s.notBefore.Store(s.cfg.now().Add(wait).UnixNano())
	return wait
}

// backingOff reports whether refresh attempts are being held back.
func (s *Source) backingOff() bool {
	nb := s.notBefore.Load()
	return nb != 0 && s.cfg.now().UnixNano() < nb
}

// transientErr is the failure that started the current backoff.
func (s *Source) transientErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lastErr == nil {
		return errorf("refresh backing off")
	}
	return s.lastErr
}

func (s *Source) resetBackoffLocked() {
	s.failures = 0
	s.lastErr = nil
	s.notBefore.Store(0)
}
