package session_test

import (
	"context"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/memstore"
)

// showStore is a memstore that shows a batch's offsets (StreamShower)
// before AppendBatchShown returns.
type showStore struct {
	*memstore.Store
	shown int
}

func (s *showStore) AppendBatch(ctx context.Context, batch []session.StreamAppend) ([]uint64, error) {
	offs := make([]uint64, len(batch))
	for i, a := range batch {
		var err error
		if offs[i], err = s.Append(ctx, a.ID, a.Msg); err != nil {
			return nil, err
		}
	}
	return offs, nil
}

func (s *showStore) AppendBatchShown(ctx context.Context, batch []session.StreamAppend, shown func([]uint64)) ([]uint64, error) {
	offs, err := s.AppendBatch(ctx, batch)
	if err == nil {
		s.shown++
		shown(offs)
	}
	return offs, err
}

// With WithEarlyDelivery over a StreamShower, a QoS 1 message's entries
// to other connections are handed to deliver when their offsets are shown
// (before the commit) and not again in the reply, which carries the
// PUBACK; an entry for the publisher's own connection stays in its reply.
// A QoS 2 message is never shown early [MQTT-4.3.3]: it goes in the reply,
// and so does a QoS 1 one after a QoS 0 one to another connection in the
// same call (publish order).
func TestV2EarlyDelivery(t *testing.T) {
	e := newV2Env(t)
	e.fresh = false
	st := &showStore{Store: e.store}
	early := make(chan []session.Delivery, 8)
	h, err := session.New(st, session.Config{Delivery: session.DeliveryV2}, nil, session.WithClock(e.clock.Now),
		session.WithEarlyDelivery(func(_ context.Context, ds []session.Delivery) { early <- ds }))
	if err != nil {
		t.Fatal(err)
	}
	e.h = h
	sub := e.open(v5)
	sub.send(connect(v5, "sub"))
	sub.send(subscribe(v5, 1, packet.Subscription{Filter: "a/+", QoS: 2}))
	pub := e.open(v5)
	pub.send(connect(v5, "pub"))
	pub.send(subscribe(v5, 1, packet.Subscription{Filter: "a/b", QoS: 1}))

	r := pub.send(publish(v5, "a/b", "m1", qos(1, 7)))
	one[*packet.Puback](t, pub.out(r))
	if len(r.Deliveries) != 0 {
		t.Fatalf("reply deliveries %+v, want none: delivered early", r.Deliveries)
	}
	if w := streamWork(t, r); len(w.Entries) != 1 || w.Entries[0].Stream.Filter != "a/b" {
		t.Fatalf("publisher's own entries %+v, want its a/b entry in its reply", w.Entries)
	}
	select {
	case ds := <-early:
		if len(ds) != 1 || ds[0].Conn != sub.id || len(ds[0].Streams) != 1 || ds[0].Streams[0].Stream.Filter != "a/+" ||
			len(ds[0].Streams[0].Entries) != 1 || string(ds[0].Streams[0].Entries[0].Message.Payload) != "m1" {
			t.Fatalf("early deliveries %+v, want m1 on a/+ to %s", ds, sub.id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no early delivery")
	}

	// A QoS 0 message before it in the same call goes in the reply, after
	// the commit: the QoS 1 one waits for it there too, so that the
	// subscriber gets the call's messages in publish order.
	r = pub.send(publish(v5, "a/c", "m0"), publish(v5, "a/b", "m1b", qos(1, 9)))
	if len(r.Deliveries) != 1 || r.Deliveries[0].Conn != sub.id || len(r.Deliveries[0].Packets) != 1 || len(r.Deliveries[0].Streams) != 1 {
		t.Fatalf("deliveries %+v, want the QoS 0 frame and the QoS 1 entry to %s in the reply", r.Deliveries, sub.id)
	}

	r = pub.send(publish(v5, "a/b", "m2", qos(2, 8)))
	one[*packet.Pubrec](t, pub.out(r))
	if len(r.Deliveries) != 1 || r.Deliveries[0].Conn != sub.id {
		t.Fatalf("QoS 2 deliveries %+v, want one to %s in the reply", r.Deliveries, sub.id)
	}
	if st.shown != 1 {
		t.Fatalf("%d batches shown, want 1 (never a QoS 2 one)", st.shown)
	}
	select {
	case ds := <-early:
		t.Fatalf("QoS 2 delivered early: %+v", ds)
	default:
	}
}
