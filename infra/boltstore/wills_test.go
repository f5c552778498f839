package boltstore

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
)

// The session cache holds no will, neither after Connect and SetOffline
// nor after a reopen; the will is in its own bucket, and Session, Due and
// Connect's previous session read it from there.
func TestWillsOutOfCache(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	st, err := Open(path, WithNoSync())
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	big := bytes.Repeat([]byte{'w'}, 100<<10)
	w := &session.Will{Delay: 60, Message: session.Message{Topic: "w", Payload: big, QoS: 1}}
	s := &session.Session{ClientID: "c", Conn: "conn", Proxy: "p", Version: packet.V5, ExpiryInterval: 3600, Will: w}
	if _, err := st.Connect(ctx, s, false, 1000); err != nil {
		t.Fatal(err)
	}
	noWillCached := func(st *Store, what string) {
		t.Helper()
		e := st.cached("c")
		if e == nil || e.s.Will != nil || !e.will {
			t.Fatalf("%s: cache entry %+v, want no will and will set", what, e)
		}
		got, err := st.Session(ctx, "c")
		if err != nil || got.Will == nil || !bytes.Equal(got.Will.Message.Payload, big) {
			t.Fatalf("%s: Session lost the will (%v)", what, err)
		}
	}
	noWillCached(st, "after Connect")
	if err := st.SetOffline(ctx, "c", "conn", session.Offline{ExpiryInterval: 3600, ExpiresAt: 3_601_000, Will: w, WillAt: 61_000}); err != nil {
		t.Fatal(err)
	}
	noWillCached(st, "after SetOffline")
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if st, err = Open(path, WithNoSync()); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	noWillCached(st, "after a reopen")
	due, err := st.Due(ctx, 61_000, 10)
	if err != nil || len(due) != 1 || due[0].Will == nil || !bytes.Equal(due[0].Will.Message.Payload, big) {
		t.Fatalf("Due: %v, %d sessions", err, len(due))
	}
	if err := st.ClearWill(ctx, "c", 61_000); err != nil {
		t.Fatal(err)
	}
	if e := st.cached("c"); e.will {
		t.Fatal("cache says the session has a will after ClearWill")
	}
	if err := st.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bWills).Get([]byte("c")) != nil {
			t.Error("will still stored after ClearWill")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// A file written before wills moved out and before records holds its
// will inline in the session record and its messages as JSON: both are
// still read.
func TestOldLayoutRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	st, err := Open(path, WithNoSync())
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	w := &session.Will{Message: session.Message{Topic: "w", Payload: []byte("inline"), QoS: 1}}
	old := &session.Session{ClientID: "c", Version: packet.V5, ExpiryInterval: 3600, Will: w}
	o := &session.Outbound{Seq: 1, QoS: 1, Message: session.Message{Topic: "t", Payload: []byte("json"), QoS: 1}}
	err = st.db.Update(func(tx *bolt.Tx) error {
		cb, err := tx.Bucket(bSessions).CreateBucket([]byte("c"))
		if err != nil {
			return err
		}
		if err := putJSON(cb, kSession, old); err != nil {
			return err
		}
		if err := putCounters(cb, counters{seq: 1, queued: 1}); err != nil {
			return err
		}
		q, err := cb.CreateBucket(bQueued)
		if err != nil {
			return err
		}
		data, _ := json.Marshal(o)
		return q.Put(seqKey(1), data)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if st, err = Open(path, WithNoSync()); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if e := st.cached("c"); e == nil || e.s.Will != nil || !e.will {
		t.Fatalf("cache entry of an inline will: %+v", e)
	}
	s, err := st.Session(ctx, "c")
	if err != nil || s.Will == nil || string(s.Will.Message.Payload) != "inline" {
		t.Fatalf("Session of an inline will: %+v, %v", s, err)
	}
	d, err := st.Dispatch(ctx, "c", "", 10)
	if err != nil || len(d) != 1 || string(d[0].Message.Payload) != "json" {
		t.Fatalf("Dispatch of a JSON message: %v, %v", d, err)
	}
}

// A record holds the payload as raw bytes: its size is the payload's plus
// a header without it.
func TestRecordRawPayload(t *testing.T) {
	p := bytes.Repeat([]byte{0, 1, 2, 0xff}, 16<<10)
	o := &session.Outbound{Seq: 7, QoS: 1, Message: session.Message{Topic: "t", Payload: p, QoS: 1}}
	data, err := encodeRecord(o)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > len(p)+200 {
		t.Fatalf("record of %d bytes for a payload of %d", len(data), len(p))
	}
	var got session.Outbound
	if err := getRecord(data, &got); err != nil || got.Seq != 7 || !bytes.Equal(got.Message.Payload, p) {
		t.Fatalf("decoded %+v, %v", got.Seq, err)
	}
	if o.Message.Payload == nil {
		t.Fatal("encodeRecord changed its argument")
	}
}
