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
