package dynamo_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/dynamo"
)

// Each write below loses its first answer once (loseAnswer): the write is
// made, and the SDK sends it again. The call must answer as if its answer
// had arrived, not report the change its first send made as a race it
// lost, a fence or "not found" (resend.go).

// resendStores returns a Store on the test run's table and one on the same
// table whose first call of one of ops naming id in its body loses its
// answer.
func resendStores(id string, ops ...string) (*dynamo.Store, *dynamo.Store, *loseAnswer) {
	c, la := loseAnswerClient(id, ops...)
	return dynamo.New(db, table), dynamo.New(c, table), la
}

func resendConnect(t *testing.T, st *dynamo.Store, id, conn string, will *session.Will) *session.Session {
	t.Helper()
	prev, err := st.Connect(context.Background(), &session.Session{ClientID: id, Identity: "alice", Proxy: "p", Conn: conn,
		Version: 5, ExpiryInterval: 3600, ReceiveMax: 10, Will: will}, false, time.Now().UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	return prev
}

func wantLost(t *testing.T, la *loseAnswer) {
	t.Helper()
	if !la.lost.Load() {
		t.Fatal("no answer was lost")
	}
}

func TestResentWrites(t *testing.T) {
	skipWithoutTable(t)
	ctx := context.Background()
	will := &session.Will{Message: session.Message{Topic: "w", Payload: []byte("bye"), QoS: 1}}

	// A takeover whose write was resent returns the session it took over:
	// the caller closes the old connection [MQTT-3.1.4-3] and settles its
	// will, and Session Present follows it.
	t.Run("Connect", func(t *testing.T) {
		id := streamTestID(t)
		st, lossy, la := resendStores(id, "UpdateItem")
		resendConnect(t, st, id, "c1", will)
		prev := resendConnect(t, lossy, id, "c2", &session.Will{Message: session.Message{Topic: "w2", QoS: 1}})
		wantLost(t, la)
		if prev == nil || prev.Conn != "c1" || prev.Will == nil || prev.Will.Message.Topic != "w" {
			t.Fatalf("Connect returned %+v; want the session of c1 with its will", prev)
		}
		if s, err := st.Session(ctx, id); err != nil || s.Conn != "c2" {
			t.Fatalf("session after the takeover: %+v, %v; want c2's", s, err)
		}
	})
	// A session taken offline by a resent write is offline by this call:
	// not fenced, so that its will is scheduled [MQTT-3.1.2-8].
	t.Run("SetOffline", func(t *testing.T) {
		id := streamTestID(t)
		st, lossy, la := resendStores(id, "UpdateItem")
		resendConnect(t, st, id, "c1", nil)
		at := time.Now().UnixMilli()
		if err := lossy.SetOffline(ctx, id, "c1", session.Offline{ExpiryInterval: 3600, ExpiresAt: at + 3_600_000, Will: will, WillAt: at}); err != nil {
			t.Fatalf("SetOffline: %v", err)
		}
		wantLost(t, la)
		if s, err := st.Session(ctx, id); err != nil || s.Online() {
			t.Fatalf("session: %+v, %v; want offline", s, err)
		}
		if err := st.SetOffline(ctx, id, "c1", session.Offline{}); !errors.Is(err, session.ErrFenced) {
			t.Errorf("a second SetOffline: %v, want ErrFenced", err)
		}
	})
	// A will cleared by a resent write was cleared by this call, which
	// publishes it; a second ClearWill finds none, so that it is
	// published once.
	t.Run("ClearWill", func(t *testing.T) {
		id := streamTestID(t)
		st, lossy, la := resendStores(id, "UpdateItem")
		resendConnect(t, st, id, "c1", nil)
		at := time.Now().UnixMilli()
		if err := st.SetOffline(ctx, id, "c1", session.Offline{ExpiryInterval: 3600, ExpiresAt: at + 3_600_000, Will: will, WillAt: at}); err != nil {
			t.Fatal(err)
		}
		if err := lossy.ClearWill(ctx, id, at); err != nil {
			t.Fatalf("ClearWill: %v", err)
		}
		wantLost(t, la)
		if err := st.ClearWill(ctx, id, at); !errors.Is(err, session.ErrNotFound) {
			t.Errorf("a second ClearWill: %v, want ErrNotFound", err)
		}
	})
	// Of the calls that end a lease, exactly the one that did wins.
	t.Run("EndLease", func(t *testing.T) {
		p := streamTestID(t)
		st, lossy, la := resendStores(p, "UpdateItem")
		if err := st.RenewLease(ctx, p, 1000); err != nil {
			t.Fatal(err)
		}
		if err := lossy.EndLease(ctx, p, 1000); err != nil {
			t.Fatalf("EndLease: %v", err)
		}
		wantLost(t, la)
		if err := st.EndLease(ctx, p, 1000); !errors.Is(err, session.ErrNotFound) {
			t.Errorf("a second EndLease: %v, want ErrNotFound", err)
		}
	})
	// A QoS 2 message received by a resent put is new to this call (it
	// routes it and counts it); a PUBREL whose delete was resent is
	// answered PUBCOMP Success, not 0x92 [MQTT-4.3.3-11].
	t.Run("ReceiveForget", func(t *testing.T) {
		id := streamTestID(t)
		st, lossyPut, la := resendStores(id, "PutItem")
		resendConnect(t, st, id, "c1", nil)
		in := &session.Inbound{PacketID: 7, Message: session.Message{Topic: "t", Payload: []byte("x"), QoS: 2, Receipt: "r1"}}
		if ex, err := lossyPut.Receive(ctx, id, "c1", in); err != nil || ex != nil {
			t.Fatalf("Receive: %+v, %v; want new", ex, err)
		}
		wantLost(t, la)
		again := &session.Inbound{PacketID: 7, Message: session.Message{Topic: "t", Payload: []byte("x"), QoS: 2, Receipt: "r2"}}
		if ex, err := st.Receive(ctx, id, "c1", again); err != nil || ex == nil || ex.Message.Receipt != "r1" {
			t.Fatalf("the client's resent PUBLISH: %+v, %v; want the message received first", ex, err)
		}
		_, lossyDel, la := resendStores(id, "DeleteItem")
		if err := lossyDel.Forget(ctx, id, "c1", 7); err != nil {
			t.Fatalf("Forget: %v", err)
		}
		wantLost(t, la)
		if err := st.Forget(ctx, id, "c1", 7); !errors.Is(err, session.ErrNotFound) {
			t.Errorf("a second Forget: %v, want ErrNotFound", err)
		}
	})
	// A session deleted by a resent transaction is deleted by this call.
	t.Run("DeleteSession", func(t *testing.T) {
		id := streamTestID(t)
		st, lossy, la := resendStores(id, "TransactWriteItems")
		resendConnect(t, st, id, "c1", nil)
		if err := lossy.DeleteSession(ctx, id, "c1"); err != nil {
			t.Fatalf("DeleteSession: %v", err)
		}
		wantLost(t, la)
		if _, err := st.Session(ctx, id); !errors.Is(err, session.ErrNotFound) {
			t.Errorf("session after DeleteSession: %v, want ErrNotFound", err)
		}
	})
}
