package memstore_test

import (
	"context"
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
	ctx := context.Background()
	st := memstore.New()
	st.LimitPacketIDs(3)
	if _, err := st.Connect(ctx, &session.Session{ClientID: "c", Proxy: "p", Conn: "k"}, true, 0); err != nil {
		t.Fatal(err)
	}
	var msgs []*session.Outbound
	for range 10 {
		msgs = append(msgs, &session.Outbound{QoS: 1, Message: session.Message{Topic: "t", QoS: 1}})
	}
	_, out, err := st.Enqueue(ctx, "c", msgs, session.QueueLimit{Messages: 100, Bytes: 1 << 20}, "k", 3)
	if err != nil {
		t.Fatal(err)
	}
	for got := 0; got < 10; {
		if len(out) == 0 {
			t.Fatalf("nothing dispatched after %d", got)
		}
		for _, o := range out {
			if o.PacketID < 1 || o.PacketID > 3 {
				t.Fatalf("packet id %d, want 1..3", o.PacketID)
			}
			if err := st.Acknowledge(ctx, "c", o.PacketID); err != nil {
				t.Fatal(err)
			}
			got++
		}
		if out, err = st.Dispatch(ctx, "c", "k", 3); err != nil {
			t.Fatal(err)
		}
	}
}
