package boltstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/mqttless/mqttless/core/session"
)

// getSession decodes the session in the session bucket cb of the
// transaction tx, with its will.
func getSession(tx *bolt.Tx, cb *bolt.Bucket) (*session.Session, error) {
	s, err := getSessionHead(cb)
	if err != nil || s.Will != nil {
		return s, err
	}
	s.Will, err = getWill(tx, []byte(s.ClientID))
	return s, err
}

// getSessionHead decodes the session in the session bucket cb without
// reading its will from the wills bucket: Will is nil unless the record
// holds it inline (written before wills moved out).
func getSessionHead(cb *bolt.Bucket) (*session.Session, error) {
	v := cb.Get(kSession)
	if v == nil {
		return nil, errors.New("session bucket without a session")
	}
	s := new(session.Session)
	if err := json.Unmarshal(v, s); err != nil {
		return nil, fmt.Errorf("decode session: %w", err)
	}
	return s, nil
}

// putSession stores s, which replaces old (nil for none), in the session
// bucket cb and moves its entries in the due bucket.
func putSession(tx *bolt.Tx, cb *bolt.Bucket, old, s *session.Session) error {
	due := tx.Bucket(bDue)
	for _, t := range dueTimes(old) {
		if err := due.Delete(dueKey(t, old.ClientID)); err != nil {
			return err
		}
	}
	for _, t := range dueTimes(s) {
		if err := due.Put(dueKey(t, s.ClientID), []byte{}); err != nil {
			return err
		}
	}
	if err := putWill(tx, []byte(s.ClientID), s.Will); err != nil {
		return err
	}
	head := *s
	head.Will = nil
	return putJSON(cb, kSession, &head)
}

// deleteSession removes the session old with everything it holds.
func deleteSession(tx *bolt.Tx, old *session.Session) error {
	due := tx.Bucket(bDue)
	for _, t := range dueTimes(old) {
		if err := due.Delete(dueKey(t, old.ClientID)); err != nil {
			return err
		}
	}
	if err := putWill(tx, []byte(old.ClientID), nil); err != nil {
		return err
	}
	if err := countSession(tx, true, old.Identity, -1); err != nil {
		return err
	}
	if cb := tx.Bucket(bSessions).Bucket([]byte(old.ClientID)); cb != nil {
		if err := addQueuedBytes(tx, -int64(getCounters(cb).bytes)); err != nil {
			return err
		}
	}
	return tx.Bucket(bSessions).DeleteBucket([]byte(old.ClientID))
}

// clearSession deletes what the session bucket cb holds (subscriptions and
// their stream positions included), keeping the session and its Seq and
// packet id counters.
func clearSession(cb *bolt.Bucket) error {
	for _, name := range [][]byte{bQueued, bInflight, bPIDs, bInbound, bSubs, bPos} {
		if cb.Bucket(name) != nil {
			if err := cb.DeleteBucket(name); err != nil {
				return err
			}
		}
	}
	n := getCounters(cb)
	n.queued, n.inflight, n.bytes = 0, 0, 0
	return putCounters(cb, n)
}

// ending reports whether s is a session that ends with its connection
// (Session Expiry Interval 0: a 3.1.1 clean session, or a 5.0 one with
// no expiry) and has no will, whose writes may return before they are
// durable (see "Durability of ending sessions" in the package
// documentation).
func ending(s *session.Session) bool {
	return s.ExpiryInterval == 0 && s.Will == nil && s.WillAt == 0
}

// owned returns the session bucket of clientID and its session, provided
// conn owns it. The empty conn owns no session. The session's will is
// not read (see getSessionHead): an online session has no due entries
// that depend on it, and its writers replace it.
func owned(tx *bolt.Tx, clientID, conn string) (*bolt.Bucket, *session.Session, error) {
	cb := tx.Bucket(bSessions).Bucket([]byte(clientID))
	if cb == nil || conn == "" {
		return nil, nil, errFenced(clientID, conn)
	}
	s, err := getSessionHead(cb)
	if err != nil {
		return nil, nil, err
	}
	if s.Conn != conn {
		return nil, nil, errFenced(clientID, conn)
	}
	return cb, s, nil
}

// sessionFence is the part of a session record that ownedFence reads:
// who owns the session and what ending needs.
type sessionFence struct {
	Conn           string          `json:"conn,omitempty"`
	ExpiryInterval uint32          `json:"expiry"`
	Will           json.RawMessage `json:"will,omitempty"`
	WillAt         int64           `json:"willAt,omitempty"`
}

// ownedFence is owned for a writer that needs only the fence and whether
// the session ends with its connection (SavePositions, every few
// acknowledgements of a delivery v2 connection): it decodes only those
// fields of the session record, not the whole session.
func ownedFence(tx *bolt.Tx, clientID, conn string) (*bolt.Bucket, bool, error) {
	cb := tx.Bucket(bSessions).Bucket([]byte(clientID))
	if cb == nil || conn == "" {
		return nil, false, errFenced(clientID, conn)
	}
	v := cb.Get(kSession)
	if v == nil {
		return nil, false, errors.New("session bucket without a session")
	}
	var f sessionFence
	if err := json.Unmarshal(v, &f); err != nil {
		return nil, false, fmt.Errorf("decode session: %w", err)
	}
	if f.Conn != conn {
		return nil, false, errFenced(clientID, conn)
	}
	will := len(f.Will) > 0 && string(f.Will) != "null"
	return cb, f.ExpiryInterval == 0 && !will && f.WillAt == 0, nil // as ending
}

// Connect implements session.Store, as ConnectWithin with no limits.
func (st *Store) Connect(ctx context.Context, s *session.Session, clean bool, now int64) (*session.Session, error) {
	return st.ConnectWithin(ctx, s, clean, now, session.SessionLimits{})
}

// ConnectWithin implements session.SessionQuota: the limits are checked
// against bSessionCounts in the transaction that writes the session.
func (st *Store) ConnectWithin(ctx context.Context, s *session.Session, clean bool, now int64, lim session.SessionLimits) (*session.Session, error) {
	var (
		prev    *session.Session
		removed []string // subscriptions deleted
		stored  *session.Session
		early   bool
	)
	err := st.write(ctx, &early, func(tx *bolt.Tx) error {
		prev, removed, stored = nil, nil, nil
		sessions := tx.Bucket(bSessions)
		key := []byte(s.ClientID)
		cb := sessions.Bucket(key)
		// A new session that ends with its connection and has no will
		// leaves nothing to do after a crash.
		early = cb == nil && ending(s)
		if cb != nil {
			old, err := getSession(tx, cb)
			if err != nil {
				return err
			}
			if !old.MayConnect(s.Identity, now) {
				return fmt.Errorf("as %q: %w", s.Identity, session.ErrNotOwner)
			}
			prev = old
		}
		if err := withinSessionLimits(tx, s, prev, lim); err != nil {
			return err
		}
		if prev != nil && (clean || !prev.Kept(s.Identity, now)) {
			removed = subFilters(cb)
			if err := clearSession(cb); err != nil {
				return err
			}
		}
		switch {
		case cb == nil:
			var err error
			if cb, err = sessions.CreateBucket(key); err != nil {
				return err
			}
			if err := countSession(tx, true, s.Identity, 1); err != nil {
				return err
			}
		case prev.Identity != s.Identity:
			if err := countSession(tx, false, prev.Identity, -1); err != nil {
				return err
			}
			if err := countSession(tx, false, s.Identity, 1); err != nil {
				return err
			}
		}
		ns := cloneSession(s)
		ns.ExpiresAt, ns.WillAt = 0, 0
		stored = ns
		return putSession(tx, cb, prev, ns)
	}, func() {
		st.setCached(s.ClientID, stored)
		for _, f := range removed {
			st.subs.Remove(f, s.ClientID)
		}
	})
	if err != nil {
		return nil, wrap(err, "connect %q", s.ClientID)
	}
	return prev, nil
}

// SetOffline implements session.Store.
func (st *Store) SetOffline(ctx context.Context, clientID, conn string, o session.Offline) error {
	var stored *session.Session
	err := st.write(ctx, nil, func(tx *bolt.Tx) error {
		stored = nil
		cb, old, err := owned(tx, clientID, conn)
		if err != nil {
			return err
		}
		s := *old
		s.Proxy, s.Conn = "", ""
		s.ExpiresAt, s.ExpiryInterval = o.ExpiresAt, o.ExpiryInterval
		s.Will, s.WillAt = o.Will, o.WillAt
		stored = cloneSession(&s)
		return putSession(tx, cb, old, &s)
	}, func() { st.setCached(clientID, stored) })
	return wrap(err, "set %q offline", clientID)
}

// DeleteSession implements session.Store.
func (st *Store) DeleteSession(ctx context.Context, clientID, conn string) error {
	var (
		removed []string
		early   bool
	)
	err := st.write(ctx, &early, func(tx *bolt.Tx) error {
		removed, early = nil, false
		cb := tx.Bucket(bSessions).Bucket([]byte(clientID))
		if cb == nil {
			return errNoSession(clientID)
		}
		old, err := getSession(tx, cb)
		if err != nil {
			return err
		}
		if old.Conn != conn {
			return errFenced(clientID, conn)
		}
		// Its connection ending it: were the deletion lost in a crash,
		// Recover would find the session online and delete it again.
		early = conn != "" && ending(old)
		removed = subFilters(cb)
		return deleteSession(tx, old)
	}, func() {
		st.setCached(clientID, nil)
		for _, f := range removed {
			st.subs.Remove(f, clientID)
		}
	})
	return wrap(err, "delete session %q", clientID)
}

// Owned implements session.Store.
func (st *Store) Owned(ctx context.Context, proxy string, limit int) ([]*session.Session, error) {
	var out []*session.Session
	err := st.view(ctx, func(tx *bolt.Tx) error {
		// A scan: Owned runs once, when a proxy starts.
		c := tx.Bucket(bSessions).Cursor()
		for k, v := c.First(); k != nil && len(out) < limit; k, v = c.Next() {
			cb := tx.Bucket(bSessions).Bucket(k)
			if v != nil || cb == nil {
				continue
			}
			// The will is read for the sessions returned only: the scan
			// must not bring every will into memory.
			s, err := getSessionHead(cb)
			if err != nil {
				return fmt.Errorf("session %q: %w", k, err)
			}
			if !s.Online() || s.Proxy != proxy {
				continue
			}
			if s.Will == nil {
				if s.Will, err = getWill(tx, k); err != nil {
					return err
				}
			}
			out = append(out, s)
		}
		return nil
	})
	if err != nil {
		return nil, wrap(err, "sessions owned by %q", proxy)
	}
	return out, nil
}
