package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sync"
	"time"
)

// credCache remembers, per username, the password last verified for it
// (as an HMAC-SHA256 under a key random to the process, never the password
// itself) with the hash it was verified against, for ttl: a client that
// reconnects with the same credentials skips bcrypt. An entry counts only
// while the user's stored hash is the one it was verified against, so a
// changed password or a removed user ends it at once.
//
// Locking: mu guards entries, at most maxEntries; when full, expired ones
// are pruned, and a new one that still finds no room is not kept. mu also
// guards checking, the usernames whose password is being checked
// (credwait.go).
type credCache struct {
	key        [32]byte
	ttl        time.Duration
	maxEntries int

	mu       sync.Mutex
	entries  map[string]credEntry
	checking map[string]chan struct{} // closed when the check ends
}

type credEntry struct {
	mac  []byte // HMAC of the password
	hash []byte // the stored hash it was verified against
	at   time.Time
}

// newCredCache returns a cache keeping entries for ttl; ttl <= 0 keeps
// none.
func newCredCache(ttl time.Duration, maxEntries int) *credCache {
	c := &credCache{ttl: ttl, maxEntries: maxEntries, entries: map[string]credEntry{}, checking: map[string]chan struct{}{}}
	_, _ = rand.Read(c.key[:])
	return c
}

func (c *credCache) mac(password []byte) []byte {
	m := hmac.New(sha256.New, c.key[:])
	m.Write(password)
	return m.Sum(nil)
}

// candidate reports whether password is the one last verified for user,
// within ttl: the caller then reads the user and confirms with verified.
func (c *credCache) candidate(user string, password []byte, now time.Time) bool {
	if c.ttl <= 0 {
		return false
	}
	c.mu.Lock()
	e, ok := c.entries[user]
	c.mu.Unlock()
	return ok && now.Sub(e.at) < c.ttl && !now.Before(e.at) && hmac.Equal(e.mac, c.mac(password))
}

// verified reports whether password was verified for user against hash,
// the user's hash now in the store, within ttl; an entry against another
// hash is dropped.
func (c *credCache) verified(user string, password, hash []byte, now time.Time) bool {
	if c.ttl <= 0 {
		return false
	}
	mac := c.mac(password)
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[user]
	if !ok {
		return false
	}
	if !bytes.Equal(e.hash, hash) || now.Sub(e.at) >= c.ttl || now.Before(e.at) {
		delete(c.entries, user)
		return false
	}
	return hmac.Equal(e.mac, mac)
}

// put records that password is user's against hash, at now.
func (c *credCache) put(user string, password, hash []byte, now time.Time) {
	if c.ttl <= 0 {
		return
	}
	e := credEntry{mac: c.mac(password), hash: bytes.Clone(hash), at: now}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[user]; !ok && len(c.entries) >= c.maxEntries {
		for k, old := range c.entries {
			if now.Sub(old.at) >= c.ttl {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= c.maxEntries {
			return
		}
	}
	c.entries[user] = e
}
