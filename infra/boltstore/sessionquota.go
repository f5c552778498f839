package boltstore

import (
	"context"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/mqttless/mqttless/core/session"
)

// bSessionCounts counts the session buckets, for session.SessionQuota:
// key kAllSessions holds how many there are, and "i/"+identity how many
// belong to each identity, each as an 8-byte big-endian count. Every
// transaction that creates or deletes a session bucket, or changes the
// identity of its session, updates them in the same transaction, so they
// are always those of the committed file, group commits included.
var (
	bSessionCounts = []byte("sessionCounts")
	kAllSessions   = []byte("n")
)

func identityCountKey(identity string) []byte { return []byte("i/" + identity) }

func getCount(b *bolt.Bucket, k []byte) int {
	v := b.Get(k)
	if len(v) != 8 {
		return 0
	}
	return int(binary.BigEndian.Uint64(v))
}

func addCount(b *bolt.Bucket, k []byte, delta int) error {
	n := getCount(b, k) + delta
	if n <= 0 {
		return b.Delete(k)
	}
	return b.Put(k, binary.BigEndian.AppendUint64(nil, uint64(n)))
}

// countSession adds delta to the sessions counted in all and, when
// identity is set, to those of identity.
func countSession(tx *bolt.Tx, all bool, identity string, delta int) error {
	b := tx.Bucket(bSessionCounts)
	if all {
		if err := addCount(b, kAllSessions, delta); err != nil {
			return err
		}
	}
	return addCount(b, identityCountKey(identity), delta)
}

// initSessionCounts counts the sessions of a file written before the
// counts were kept.
func initSessionCounts(tx *bolt.Tx) error {
	if tx.Bucket(bSessionCounts) != nil {
		return nil
	}
	if _, err := tx.CreateBucket(bSessionCounts); err != nil {
		return err
	}
	sessions := tx.Bucket(bSessions)
	return sessions.ForEachBucket(func(k []byte) error {
		s, err := getSessionHead(sessions.Bucket(k))
		if err != nil {
			return fmt.Errorf("session %q: %w", k, err)
		}
		return countSession(tx, true, s.Identity, 1)
	})
}

// withinSessionLimits returns an error wrapping session.ErrQuotaExceeded
// when a Connect of s that replaces old (nil for none) would pass lim, in
// tx.
func withinSessionLimits(tx *bolt.Tx, s, old *session.Session, lim session.SessionLimits) error {
	b := tx.Bucket(bSessionCounts)
	if n := getCount(b, kAllSessions); old == nil && lim.Sessions > 0 && n >= lim.Sessions {
		return fmt.Errorf("%d sessions: %w", n, session.ErrQuotaExceeded)
	}
	if n := getCount(b, identityCountKey(s.Identity)); (old == nil || old.Identity != s.Identity) && lim.Identity > 0 && n >= lim.Identity {
		return fmt.Errorf("%d sessions of %q: %w", n, s.Identity, session.ErrQuotaExceeded)
	}
	return nil
}

// SessionCount implements session.SessionCounter, from the session cache.
func (st *Store) SessionCount(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, wrap(err, "count sessions")
	}
	st.sessMu.RLock()
	defer st.sessMu.RUnlock()
	return len(st.sessions), nil
}
