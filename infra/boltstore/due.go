package boltstore

import (
	"context"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/mqttless/mqttless/core/session"
)

// dueTimes returns the times at which s falls due: its pending will and
// its expiry, while it is offline.
func dueTimes(s *session.Session) []int64 {
	if s == nil || s.Online() {
		return nil
	}
	var t []int64
	if s.Will != nil && s.WillAt != 0 {
		t = append(t, s.WillAt)
	}
	if s.ExpiresAt != 0 {
		t = append(t, s.ExpiresAt)
	}
	return t
}

// isDue reports whether s is due at now.
func isDue(s *session.Session, now int64) bool {
	for _, t := range dueTimes(s) {
		if t <= now {
			return true
		}
	}
	return false
}

// Due implements session.Store. It reads the due bucket in time order.
func (st *Store) Due(ctx context.Context, now int64, limit int) ([]*session.Session, error) {
	var out []*session.Session
	err := st.view(ctx, func(tx *bolt.Tx) error {
		sessions := tx.Bucket(bSessions)
		seen := map[string]bool{}
		c := tx.Bucket(bDue).Cursor()
		for k, _ := c.First(); k != nil && len(out) < limit; k, _ = c.Next() {
			if len(k) < 8 || int64(binary.BigEndian.Uint64(k)) > now {
				break
			}
			id := string(k[8:])
			if seen[id] {
				continue
			}
			seen[id] = true
			cb := sessions.Bucket(k[8:])
			if cb == nil {
				continue
			}
			s, err := getSession(tx, cb)
			if err != nil {
				return fmt.Errorf("session %q: %w", id, err)
			}
			if isDue(s, now) {
				out = append(out, s)
			}
		}
		return nil
	})
	if err != nil {
		return nil, wrap(err, "due sessions")
	}
	return out, nil
}
