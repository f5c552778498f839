package storetest

import (
	"context"
	"testing"

	"github.com/mqttless/mqttless/core/session"
)

// PacketIDLimit checks a session.PacketIDLimiter: under delivery v2 the
// queues (Dispatch) keep to packet identifiers 1..max, the identifiers
// above being the streams' (session.PIDPlan), and a queue's window is at
// most max. It limits st store-wide, so each store's tests call it with a
// store of its own rather than through Run.
func PacketIDLimit(t *testing.T, st session.Store, clientID string) {
	t.Helper()
	lim, ok := st.(session.PacketIDLimiter)
	if !ok {
		t.Fatalf("%T does not implement session.PacketIDLimiter", st)
	}
	ctx := context.Background()
	lim.LimitPacketIDs(3)
	if _, err := st.Connect(ctx, &session.Session{ClientID: clientID, Proxy: "p", Conn: "k"}, true, 0); err != nil {
		t.Fatal(err)
	}
	var msgs []*session.Outbound
	for range 10 {
		msgs = append(msgs, &session.Outbound{QoS: 1, Message: session.Message{Topic: "t", QoS: 1}})
	}
	// A window of 5 asked for: the limit of 3 holds.
	_, out, err := st.Enqueue(ctx, clientID, msgs, session.QueueLimit{Messages: 100, Bytes: 1 << 20}, "k", 5)
	if err != nil {
		t.Fatal(err)
	}
	for got := 0; got < 10; {
		if len(out) == 0 {
			t.Fatalf("nothing dispatched after %d", got)
		}
		inflight, err := st.Inflight(ctx, clientID)
		if err != nil {
			t.Fatal(err)
		}
		if len(inflight) > 3 {
			t.Fatalf("%d in flight, want at most the limit 3", len(inflight))
		}
		for _, o := range out {
			if o.PacketID < 1 || o.PacketID > 3 {
				t.Fatalf("packet id %d, want 1..3", o.PacketID)
			}
			if err := st.Acknowledge(ctx, clientID, "k", o.PacketID); err != nil {
				t.Fatal(err)
			}
			got++
		}
		if out, err = st.Dispatch(ctx, clientID, "k", 5); err != nil {
			t.Fatal(err)
		}
	}
}
