package auth

import (
	"context"
	"fmt"
)

// In a reconnection storm many clients share a few usernames (a fleet of
// devices often has one account per model or site), and each Lambda
// instance gets a batch of their CONNECTs at once: without coalescing,
// every CONNECT of a username that the instance has not verified yet runs
// bcrypt, because none has finished when the others look in the cache. So
// the checks of one username run one at a time in an instance: a CONNECT
// that finds a check of its username under way waits for it, then looks
// in the cache again, where the check it waited for left the credentials
// when they were right. A storm of N usernames then costs N checks per
// instance and -auth-cache period, not one per CONNECT
// (TestCoalescedChecks).
//
// The cost: the checks of one username are serialized, so a client with
// the right password may wait behind others' wrong ones for that username;
// three wrong ones in a row back the username off (backoff.go), which
// bounds the wait. Different usernames still check in parallel, up to
// MaxPasswordChecks.

// claim returns when no other check of user runs in this process: done
// is then non-nil and must be called when the caller's own check ends. Or
// it returns with done nil once the check it waited for ended: the caller
// looks in the cache again, and claims again on a miss. With no cache
// (ttl <= 0) nothing is waited for.
func (c *credCache) claim(ctx context.Context, user string) (done func(), err error) {
	if c.ttl <= 0 {
		return func() {}, nil
	}
	c.mu.Lock()
	ch, busy := c.checking[user]
	if !busy {
		ch = make(chan struct{})
		c.checking[user] = ch
		c.mu.Unlock()
		return func() {
			c.mu.Lock()
			delete(c.checking, user)
			c.mu.Unlock()
			close(ch)
		}, nil
	}
	c.mu.Unlock()
	select {
	case <-ch:
		return nil, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("auth: waiting for a check of the same username: %w", ctx.Err())
	}
}
