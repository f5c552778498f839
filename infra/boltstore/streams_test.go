package boltstore_test

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/boltstore"
)

// appendN appends n QoS 1 messages to id, failing t on an error.
func appendN(t *testing.T, st *boltstore.Store, id session.StreamID, n int, expiresAt int64) {
	t.Helper()
	for range n {
		if _, err := st.Append(t.Context(), id, &session.Message{Topic: "t", Payload: []byte("x"), QoS: 1, ExpiresAt: expiresAt}); err != nil {
			t.Fatal(err)
		}
	}
}

// offsets returns the offsets ReadStream finds in id from the start.
func offsets(t *testing.T, st *boltstore.Store, id session.StreamID) []uint64 {
	t.Helper()
	got, err := st.ReadStream(t.Context(), id, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []uint64
	for _, e := range got {
		out = append(out, e.Offset)
	}
	return out
}

// head returns the head of id.
func head(t *testing.T, st *boltstore.Store, id session.StreamID) uint64 {
	t.Helper()
	h, err := st.Heads(t.Context(), []session.StreamID{id})
	if err != nil {
		t.Fatal(err)
	}
	return h[id]
}

// TestStreamsReopen: entries, heads and positions are in the file: a
// store reopened from it reads them and appends after the head.
func TestStreamsReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	st, err := boltstore.Open(path, boltstore.WithNoSync(), boltstore.WithGroupCommit())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id := session.StreamID{Filter: "a/#", Shard: 2}
	appendN(t, st, id, 3, 0)
	s := &session.Session{ClientID: "c", Proxy: "p", Conn: "conn", Version: packet.V5, ExpiryInterval: 60, ReceiveMax: 10}
	if _, err := st.Connect(ctx, s, false, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Subscribe(ctx, "c", "conn", []session.Subscription{{Filter: "a/#", QoS: 1}}); err != nil {
		t.Fatal(err)
	}
	pos := session.Positions{id: {Number: 3, Acked: 1, Released: []uint64{3}}}
	if err := st.SavePositions(ctx, "c", "conn", pos); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err = boltstore.Open(path, boltstore.WithNoSync())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if got := offsets(t, st, id); !reflect.DeepEqual(got, []uint64{1, 2, 3}) {
		t.Errorf("offsets after reopening: %v, want 1 2 3", got)
	}
	got, err := st.Positions(ctx, "c")
	if err != nil || !reflect.DeepEqual(got, pos) {
		t.Errorf("positions after reopening: %v (%v), want %v", got, err, pos)
	}
	if off, err := st.Append(ctx, id, &session.Message{Topic: "a/b", QoS: 1}); err != nil || off != 4 {
		t.Errorf("Append after reopening: %d (%v), want 4", off, err)
	}
}

// TestStreamRetention: TrimStreams removes the oldest entries past
// retention or past their message's expiry, from the front only, and the
// head stays where it was.
func TestStreamRetention(t *testing.T) {
	st := open(t, boltstore.WithNoSync(), boltstore.WithStreamRetention(time.Hour))
	a, b := session.StreamID{Filter: "a"}, session.StreamID{Filter: "b"}
	now := time.Now().UnixMilli()
	appendN(t, st, a, 2, now-1) // expired
	appendN(t, st, a, 1, 0)
	appendN(t, st, a, 1, now-1) // expired, but behind one that stays
	appendN(t, st, b, 3, 0)
	n, err := st.TrimStreams(t.Context(), now, 100)
	if err != nil || n != 2 {
		t.Fatalf("TrimStreams now: %d (%v), want 2", n, err)
	}
	if got := offsets(t, st, a); !reflect.DeepEqual(got, []uint64{3, 4}) {
		t.Errorf("offsets of a after trimming expired messages: %v, want 3 4", got)
	}
	later := now + time.Hour.Milliseconds() + 1000
	if n, err := st.TrimStreams(t.Context(), later, 3); err != nil || n != 3 {
		t.Fatalf("TrimStreams past retention, limit 3: %d (%v), want 3", n, err)
	}
	if n, err := st.TrimStreams(t.Context(), later, 100); err != nil || n != 2 {
		t.Fatalf("TrimStreams past retention: %d (%v), want the 2 left", n, err)
	}
	if got := offsets(t, st, b); len(got) != 0 {
		t.Errorf("offsets of b past retention: %v, want none", got)
	}
	if h := head(t, st, b); h != 3 {
		t.Errorf("head of b after trimming every entry: %d, want 3", h)
	}
	if off, err := st.Append(t.Context(), b, &session.Message{Topic: "b", QoS: 1}); err != nil || off != 4 {
		t.Errorf("Append after trimming: %d (%v), want 4", off, err)
	}
}

// TestStreamTrimOnAppend: Append trims the sub-stream it writes to, every
// 64 offsets, never the entry it appends.
func TestStreamTrimOnAppend(t *testing.T) {
	st := open(t, boltstore.WithNoSync(), boltstore.WithStreamRetention(time.Nanosecond))
	id := session.StreamID{Filter: "a"}
	appendN(t, st, id, 63, 0)
	if got := len(offsets(t, st, id)); got != 63 {
		t.Fatalf("%d entries before the 64th append, want 63", got)
	}
	appendN(t, st, id, 1, 0)
	if got := offsets(t, st, id); !reflect.DeepEqual(got, []uint64{64}) {
		t.Errorf("offsets after the 64th append: %v, want 64 alone", got)
	}
}
