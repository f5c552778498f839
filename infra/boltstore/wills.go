package boltstore

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/mqttless/mqttless/core/session"
)

// Wills live apart from their sessions, in the top-level bucket wills
// (client id → the will as a record), so that the session cache and the
// session buckets stay small: a will may be as large as -max-will-size,
// and is read only when it may be published (Connect's previous session,
// Due, and Session, which the connection's end reads). A session record
// ("s") holds no will; one written before wills moved out may still hold
// it inline, and is read as it is.
var bWills = []byte("wills")

// getWill reads the will of clientID from the wills bucket, or nil.
func getWill(tx *bolt.Tx, clientID []byte) (*session.Will, error) {
	v := tx.Bucket(bWills).Get(clientID)
	if v == nil {
		return nil, nil
	}
	w := new(session.Will)
	if err := getRecord(v, w); err != nil {
		return nil, fmt.Errorf("decode will of %q: %w", clientID, err)
	}
	return w, nil
}

// putWill stores w as the will of clientID, or removes the will when w is
// nil.
func putWill(tx *bolt.Tx, clientID []byte, w *session.Will) error {
	b := tx.Bucket(bWills)
	if w == nil {
		if b.Get(clientID) == nil {
			return nil
		}
		return b.Delete(clientID)
	}
	return putRecord(b, clientID, w)
}

// hasWill reports whether the will of clientID is stored apart, without
// reading it.
func hasWill(tx *bolt.Tx, clientID []byte) bool {
	return tx.Bucket(bWills).Get(clientID) != nil
}

// ClearWill implements session.Store.
func (st *Store) ClearWill(ctx context.Context, clientID string, willAt int64) error {
	var stored *session.Session
	err := st.write(ctx, nil, func(tx *bolt.Tx) error {
		stored = nil
		cb := tx.Bucket(bSessions).Bucket([]byte(clientID))
		if cb == nil {
			return fmt.Errorf("pending will of %q: %w", clientID, session.ErrNotFound)
		}
		old, err := getSession(tx, cb)
		if err != nil {
			return err
		}
		if old.Online() || old.Will == nil || old.WillAt != willAt {
			return fmt.Errorf("pending will of %q at %d: %w", clientID, willAt, session.ErrNotFound)
		}
		s := *old
		s.Will, s.WillAt = nil, 0
		stored = cloneSession(&s)
		return putSession(tx, cb, old, &s)
	}, func() { st.setCached(clientID, stored) })
	return wrap(err, "clear will")
}
