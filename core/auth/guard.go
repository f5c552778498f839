package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/mqttless/mqttless/core/ratelog"
)

// Password checks are rationed, so that clients sending wrong passwords
// cannot keep the CPU busy with bcrypt (issue 14, high 6): see
// AuthenticateFrom. A Checker holds one guard, shared by its calls; in
// Lambda each instance holds its own.
type guard struct {
	checks  chan struct{} // one token per password check running
	sources *backoff      // by source address (sourceKey)
	users   *backoff      // by username (userKey)
	creds   *credCache

	checked   atomic.Uint64 // bcrypt comparisons made
	backedOff atomic.Uint64 // attempts refused during a back-off
}

// Defaults of the guard's Options.
const (
	DefaultFailureBackoff    = time.Second
	DefaultMaxFailureBackoff = time.Minute
	// guardKeys bounds the sources, usernames and verified credentials
	// each remembered.
	guardKeys = 10_000
)

func newGuard(o Options) guard {
	n := o.MaxPasswordChecks
	if n <= 0 {
		n = runtime.NumCPU()
	}
	base, max := o.FailureBackoff, o.MaxFailureBackoff
	if base == 0 {
		base = DefaultFailureBackoff
	}
	if max <= 0 {
		max = DefaultMaxFailureBackoff
	}
	return guard{
		checks:  make(chan struct{}, n),
		sources: newBackoff(freeSourceFailures, base, max, guardKeys),
		users:   newBackoff(freeUserFailures, base, max, guardKeys),
		creds:   newCredCache(credentialTTL(o), guardKeys),
	}
}

// credentialTTL is how long verified credentials are remembered: o's
// CredentialTTL, or its CacheTTL when that is zero.
func credentialTTL(o Options) time.Duration {
	if o.CredentialTTL != 0 {
		return o.CredentialTTL
	}
	return o.CacheTTL
}

// checkPassword compares password with hash once one of the
// MaxPasswordChecks slots is free, or fails when ctx ends first.
func (g *guard) checkPassword(ctx context.Context, hash, password []byte) (bool, error) {
	select {
	case g.checks <- struct{}{}:
	case <-ctx.Done():
		return false, fmt.Errorf("auth: waiting to check a password: %w", ctx.Err())
	}
	defer func() { <-g.checks }()
	g.checked.Add(1)
	return CheckPassword(hash, password), nil
}

// GuardStats counts what the guard did.
type GuardStats struct {
	// PasswordChecks is the bcrypt comparisons made.
	PasswordChecks uint64
	// BackedOff is the attempts refused during a back-off, unchecked.
	BackedOff uint64
}

// Stats returns the Checker's counts since it was made.
func (c *Checker) Stats() GuardStats {
	return GuardStats{PasswordChecks: c.checked.Load(), BackedOff: c.backedOff.Load()}
}

// userKey is the back-off key of a username: a digest, since a username
// may be 65,535 bytes and any number of them unknown.
func userKey(username string) string {
	sum := sha256.Sum256([]byte(username))
	return hex.EncodeToString(sum[:16])
}

// logField cuts a username for a log line.
func logField(s string) string { return ratelog.Truncate(s, 64) }
