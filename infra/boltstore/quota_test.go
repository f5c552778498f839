package boltstore

import (
	"errors"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
)

// The session counts and the retained totals by identity live in the file:
// after a reopen, and in a file written before they were kept (their
// buckets dropped here), the limits see the sessions and retained
// messages that are there.
func TestQuotaCountsReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	ctx := t.Context()
	st, err := Open(path, WithNoSync())
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b"} {
		s := &session.Session{ClientID: id, Identity: "user:alice", Conn: "c-" + id, Proxy: "p", Version: packet.V5, ExpiryInterval: 60}
		if _, err := st.Connect(ctx, s, false, 1000); err != nil {
			t.Fatal(err)
		}
	}
	m := &session.Message{Topic: "r/1", Payload: []byte("x"), Identity: "user:alice"}
	if err := st.SetRetained(ctx, m, session.RetainedLimits{}); err != nil {
		t.Fatal(err)
	}
	check := func(what string) {
		t.Helper()
		c := &session.Session{ClientID: "c", Identity: "user:alice", Conn: "c-c", Proxy: "p", Version: packet.V5}
		if _, err := st.ConnectWithin(ctx, c, false, 1000, session.SessionLimits{Identity: 2}); !errors.Is(err, session.ErrQuotaExceeded) {
			t.Errorf("%s: a third session at Identity 2: %v", what, err)
		}
		if _, err := st.ConnectWithin(ctx, c, false, 1000, session.SessionLimits{Sessions: 2}); !errors.Is(err, session.ErrQuotaExceeded) {
			t.Errorf("%s: a third session at Sessions 2: %v", what, err)
		}
		r := &session.Message{Topic: "r/2", Payload: []byte("x"), Identity: "user:alice"}
		if err := st.SetRetained(ctx, r, session.RetainedLimits{IdentityCount: 1}); !errors.Is(err, session.ErrQuotaExceeded) {
			t.Errorf("%s: a second retained message at IdentityCount 1: %v", what, err)
		}
	}
	check("before a reopen")
	reopen := func(drop bool) {
		t.Helper()
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		if drop {
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = db.Update(func(tx *bolt.Tx) error {
				if err := tx.DeleteBucket(bSessionCounts); err != nil {
					return err
				}
				return tx.DeleteBucket(bRetainedBy)
			})
			if cerr := db.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if st, err = Open(path, WithNoSync()); err != nil {
			t.Fatal(err)
		}
	}
	reopen(false)
	check("after a reopen")
	reopen(true)
	check("in a file without the counts")
	if err := st.DeleteSession(ctx, "a", "c-a"); err != nil {
		t.Fatal(err)
	}
	c := &session.Session{ClientID: "c", Identity: "user:alice", Conn: "c-c", Proxy: "p", Version: packet.V5}
	if _, err := st.ConnectWithin(ctx, c, false, 1000, session.SessionLimits{Sessions: 2, Identity: 2}); err != nil {
		t.Errorf("a session after a deletion freed one: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}
