package memstore_test

import (
	"testing"

	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/core/session/storetest"
	"github.com/mqttless/mqttless/infra/memstore"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(*testing.T) session.Store { return memstore.New() })
}

// Under delivery v2 the queues keep to packet identifiers 1..max
// (session.PacketIDLimiter): the identifiers above are the streams'.
func TestLimitPacketIDs(t *testing.T) {
	storetest.PacketIDLimit(t, memstore.New(), "c")
}

// With WithStreamKeep(n) a sub-stream holds at most n+n/4 entries, its
// newest, dense up to its head; a read from below its oldest starts at
// the oldest.
func TestStreamKeep(t *testing.T) {
	st := memstore.New(memstore.WithStreamKeep(100))
	id := session.StreamID{Filter: "a/#"}
	for i := range 1000 {
		off, err := st.Append(t.Context(), id, &session.Message{Topic: "a", Payload: []byte{byte(i)}, QoS: 1})
		if err != nil || off != uint64(i+1) {
			t.Fatalf("append %d: offset %d, %v", i, off, err)
		}
	}
	got, err := st.ReadStream(t.Context(), id, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	n := len(got)
	if n < 100 || n > 125 || got[n-1].Offset != 1000 || got[0].Offset != uint64(1000-n+1) || got[0].Message.Payload[0] != byte(1000-n) {
		t.Fatalf("%d entries from %d to %d, want the newest 100 to 125, up to 1000", n, got[0].Offset, got[n-1].Offset)
	}
	h, _ := st.Heads(t.Context(), []session.StreamID{id})
	if h[id] != 1000 {
		t.Fatalf("head %d, want 1000", h[id])
	}
}
