package auth

import (
	"sync"
	"time"
)

// ruleCache holds the rules a Checker last read.
//
// Locking: mu guards cur and is held only to read or replace the pointer,
// never during a store read; a ruleSet is immutable once published. load
// is a one-slot semaphore held by the single caller that reads the rules
// from the store when they are stale, so that any number of concurrent
// checks make one Store.Rules call per TTL; the others wait on it (or on
// their context) and then use what it read.
type ruleCache struct {
	mu   sync.Mutex
	cur  *ruleSet
	load chan struct{}
}

func newRuleCache() ruleCache { return ruleCache{load: make(chan struct{}, 1)} }

// fresh returns the cached rules when they were read less than ttl before
// now, or nil. A negative ttl never finds them fresh.
func (rc *ruleCache) fresh(now time.Time, ttl time.Duration) *ruleSet {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.cur == nil || ttl < 0 || now.Sub(rc.cur.at) >= ttl || now.Before(rc.cur.at) {
		return nil
	}
	return rc.cur
}

// set publishes rs as the cached rules.
func (rc *ruleCache) set(rs *ruleSet) {
	rc.mu.Lock()
	rc.cur = rs
	rc.mu.Unlock()
}

// maxCachedUsers bounds the entries of a userCache: past it, the entries
// read longer than the TTL ago are dropped, and if that is not enough,
// all of them.
const maxCachedUsers = 10000

// userCache remembers, per user name, whether the user existed when last
// read. mu guards m, and is never held during a store read: two callers
// may read the same user at once, and the later answer stays.
type userCache struct {
	mu sync.Mutex
	m  map[string]userEntry
}

type userEntry struct {
	exists bool
	at     time.Time
}

func newUserCache() userCache { return userCache{m: map[string]userEntry{}} }

// fresh returns what was read about name less than ttl before now.
func (uc *userCache) fresh(name string, now time.Time, ttl time.Duration) (exists, ok bool) {
	uc.mu.Lock()
	defer uc.mu.Unlock()
	e, found := uc.m[name]
	if !found || ttl < 0 || now.Sub(e.at) >= ttl || now.Before(e.at) {
		return false, false
	}
	return e.exists, true
}

// set records what was read about name at now.
func (uc *userCache) set(name string, exists bool, now time.Time, ttl time.Duration) {
	uc.mu.Lock()
	defer uc.mu.Unlock()
	if len(uc.m) >= maxCachedUsers {
		for n, e := range uc.m {
			if now.Sub(e.at) >= ttl || now.Before(e.at) {
				delete(uc.m, n)
			}
		}
		if len(uc.m) >= maxCachedUsers {
			clear(uc.m)
		}
	}
	uc.m[name] = userEntry{exists: exists, at: now}
}
