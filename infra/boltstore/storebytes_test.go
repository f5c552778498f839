package boltstore

import (
	"bytes"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
)

// The count of QueueLimit.StoreBytes lives in the file: after a reopen,
// and in a file written before it was kept (its key dropped here, then
// counted from the sessions' counters on open), Enqueue sees the bytes
// that are queued.
func TestStoreBytesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	ctx := t.Context()
	st, err := Open(path, WithNoSync())
	if err != nil {
		t.Fatal(err)
	}
	msg := func() *session.Outbound {
		return &session.Outbound{QoS: 1, Message: session.Message{Topic: "t", Payload: bytes.Repeat([]byte{'p'}, 500)}}
	}
	size := int64(msg().Message.Size())
	for _, id := range []string{"a", "b"} {
		s := &session.Session{ClientID: id, Conn: "c-" + id, Proxy: "p", Version: packet.V5, ExpiryInterval: 60}
		if _, err := st.Connect(ctx, s, false, 1000); err != nil {
			t.Fatal(err)
		}
		if n, _, err := st.Enqueue(ctx, id, []*session.Outbound{msg()}, session.QueueLimit{Messages: 10}, "", 0); err != nil || n != 1 {
			t.Fatalf("Enqueue for %s: %d, %v", id, n, err)
		}
	}
	check := func(what string) {
		t.Helper()
		if n, err := st.QueuedStoreBytes(ctx); err != nil || n != 2*size {
			t.Errorf("%s: QueuedStoreBytes %d, %v; want %d", what, n, err, 2*size)
		}
		lim := session.QueueLimit{Messages: 10, StoreBytes: 2 * size}
		if n, _, err := st.Enqueue(ctx, "a", []*session.Outbound{msg()}, lim, "", 0); err != nil || n != 0 {
			t.Errorf("%s: Enqueue into a full store: %d, %v; want none accepted", what, n, err)
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
			err = db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bMeta).Delete(kQueuedBytes) })
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
	check("in a file without the count")
	if err := st.DeleteSession(ctx, "b", "c-b"); err != nil {
		t.Fatal(err)
	}
	if n, err := st.QueuedStoreBytes(ctx); err != nil || n != size {
		t.Errorf("after deleting b: QueuedStoreBytes %d, %v; want %d", n, err, size)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}
