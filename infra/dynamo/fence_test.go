package dynamo_test

import (
	"errors"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
)

// TestDispatchFencedInTransaction: a takeover between the read of the
// session that a Dispatch round starts from and the round's transaction
// (Enqueue's dispatch starts from Enqueue's read) fails the transaction's
// condition on conn: nothing goes in flight for the connection taken over,
// and the call returns ErrFenced. Without the condition the round moved
// the messages for a connection whose successor had already resumed.
func TestDispatchFencedInTransaction(t *testing.T) {
	st, id := connected(t)
	ctx := t.Context()
	if n, _, err := st.Enqueue(ctx, id, outbound(0, 3, 0), session.QueueLimit{Messages: 10}, "", 0); err != nil || n != 3 {
		t.Fatalf("Enqueue = %d, %v", n, err)
	}
	takeover := func() {
		s := &session.Session{ClientID: id, Identity: testIdentity, Conn: "c2", Proxy: "p2", Version: packet.V5, ReceiveMax: 20, ExpiryInterval: 3600}
		if _, err := st.Connect(ctx, s, false, time.Now().UnixMilli()); err != nil {
			t.Fatal(err)
		}
	}
	out, err := st.DispatchAfterRead(ctx, id, "c1", 10, takeover)
	if !errors.Is(err, session.ErrFenced) || len(out) != 0 {
		t.Fatalf("Dispatch for c1 after its takeover = %d messages, %v; want none, ErrFenced", len(out), err)
	}
	if f, err := st.Inflight(ctx, id); err != nil || len(f) != 0 {
		t.Fatalf("in flight after the fenced dispatch: %d, %v; want none", len(f), err)
	}
	out, err = st.Dispatch(ctx, id, "c2", 10)
	if err != nil || len(out) != 3 {
		t.Fatalf("Dispatch for c2 = %d messages, %v; want the 3 queued", len(out), err)
	}
}
