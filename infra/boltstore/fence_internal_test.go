package boltstore

import (
	"errors"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/mqttless/mqttless/core/session"
)

// ownedFence fences and tells an ending session as owned and ending do.
func TestOwnedFenceAsOwned(t *testing.T) {
	st, err := Open(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sessions := []session.Session{
		{ClientID: "a", Conn: "c1"},
		{ClientID: "b", Conn: "c1", ExpiryInterval: 60},
		{ClientID: "c", Conn: "c1", WillAt: 5},
		{ClientID: "d", Conn: "c1", Will: &session.Will{Message: session.Message{Topic: "w"}}},
	}
	err = st.db.Update(func(tx *bolt.Tx) error {
		for i := range sessions {
			cb, err := tx.Bucket(bSessions).CreateBucket([]byte(sessions[i].ClientID))
			if err != nil {
				return err
			}
			if err := putSession(tx, cb, nil, &sessions[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = st.db.View(func(tx *bolt.Tx) error {
		for _, s := range sessions {
			for _, conn := range []string{"c1", "c2", ""} {
				_, head, err1 := owned(tx, s.ClientID, conn)
				_, ends, err2 := ownedFence(tx, s.ClientID, conn)
				if errors.Is(err1, session.ErrFenced) != errors.Is(err2, session.ErrFenced) || (err1 == nil) != (err2 == nil) {
					t.Errorf("%s on %q: owned %v, ownedFence %v", s.ClientID, conn, err1, err2)
				}
				if err1 == nil && ending(head) != ends {
					t.Errorf("%s: ending %v, ownedFence %v", s.ClientID, ending(head), ends)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
