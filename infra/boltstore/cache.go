package boltstore

import (
	"bytes"
	"context"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/mqttless/mqttless/core/session"
)

// cacheEntry is a session in the cache: the session without its will, and
// whether it has one.
type cacheEntry struct {
	s    *session.Session // Will nil; never modified, only replaced
	will bool
}

// newCacheEntry returns the cache entry of s, which must not be modified
// afterwards (its will is dropped from a copy, not from s).
func newCacheEntry(s *session.Session) *cacheEntry {
	if s.Will == nil {
		return &cacheEntry{s: s}
	}
	c := *s
	c.Will = nil
	return &cacheEntry{s: &c, will: true}
}

// cached returns the cache entry of clientID, or nil.
func (st *Store) cached(clientID string) *cacheEntry {
	st.sessMu.RLock()
	defer st.sessMu.RUnlock()
	return st.sessions[clientID]
}

// setCached replaces the cached session of clientID with s (nil removes
// it). The caller holds subsMu and has committed the change; s must not be
// modified afterwards.
func (st *Store) setCached(clientID string, s *session.Session) {
	st.sessMu.Lock()
	if s == nil {
		delete(st.sessions, clientID)
	} else {
		st.sessions[clientID] = newCacheEntry(s)
	}
	st.sessMu.Unlock()
}

// cloneSession returns a copy of s that shares no memory with it.
func cloneSession(s *session.Session) *session.Session {
	c := *s
	if s.Will != nil {
		w := *s.Will
		w.Message.Payload = bytes.Clone(w.Message.Payload)
		w.Message.Props.CorrelationData = bytes.Clone(w.Message.Props.CorrelationData)
		w.Message.Props.User = slices.Clone(w.Message.Props.User)
		c.Will = &w
	}
	return &c
}

// Session implements session.Store.
func (st *Store) Session(ctx context.Context, clientID string) (*session.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, wrap(err, "session %q", clientID)
	}
	e := st.cached(clientID)
	if e == nil {
		return nil, wrap(errNoSession(clientID), "session %q", clientID)
	}
	if !e.will {
		return cloneSession(e.s), nil
	}
	// The will is read on demand, with the session, from the file: the
	// cache holds none.
	var s *session.Session
	err := st.view(ctx, func(tx *bolt.Tx) error {
		cb := tx.Bucket(bSessions).Bucket([]byte(clientID))
		if cb == nil {
			return errNoSession(clientID)
		}
		var err error
		s, err = getSession(tx, cb)
		return err
	})
	if err != nil {
		return nil, wrap(err, "session %q", clientID)
	}
	return s, nil
}

// Sessions implements session.Store.
func (st *Store) Sessions(ctx context.Context, clientIDs []string) (map[string]*session.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, wrap(err, "sessions")
	}
	out := make(map[string]*session.Session, len(clientIDs))
	st.sessMu.RLock()
	for _, id := range clientIDs {
		if e := st.sessions[id]; e != nil {
			out[id] = e.s
		}
	}
	st.sessMu.RUnlock()
	for id, s := range out {
		out[id] = cloneSession(s)
	}
	return out, nil
}

// endingCached reports whether the session of clientID, as the cache has
// it, is ending: its outbound messages need not survive a crash, which
// ends it. A write of the group commit calls it from its transaction
// function, where the cache shows every write committed before.
func (st *Store) endingCached(clientID string) bool {
	st.sessMu.RLock()
	e := st.sessions[clientID]
	st.sessMu.RUnlock()
	return e != nil && !e.will && ending(e.s)
}
