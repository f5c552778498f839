package session_test

import (
	"context"
	"errors"
	"testing"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/memstore"
)

// markFailStore is a memstore whose MarkFannedOut fails while fail > 0: a
// call that appended a QoS 2 message's entries and failed before its
// receive state was marked routed (a function timing out, a throttled
// write, a crash).
type markFailStore struct {
	*memstore.Store
	fail int
}

var errMarkFailed = errors.New("MarkFannedOut failed (test)")

func (s *markFailStore) MarkFannedOut(ctx context.Context, clientID, conn string, packetID uint16) error {
	if s.fail > 0 {
		s.fail--
		return errMarkFailed
	}
	return s.Store.MarkFannedOut(ctx, clientID, conn, packetID)
}

// A QoS 2 message resent after a call that appended its entries and then
// failed is not appended again: each sub-stream holds it once, and the
// resend delivers the entry appended the first time [MQTT-4.3.3-10]. The
// next message under the same packet identifier, after PUBREL, is a new
// one and is appended.
func TestV2ResentQoS2AppendsOnce(t *testing.T) {
	e := newV2Env(t)
	st := &markFailStore{Store: e.store}
	h, err := session.New(st, session.Config{Delivery: session.DeliveryV2}, nil, session.WithClock(e.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	e.fresh, e.h = false, h
	sub := e.open(v5)
	sub.send(connect(v5, "sub"))
	sub.send(subscribe(v5, 1, packet.Subscription{Filter: "a/b", QoS: 2}, packet.Subscription{Filter: "a/#", QoS: 2}))
	pub := e.open(v5)
	pub.send(connect(v5, "pub", persistent()))

	st.fail = 1
	if _, err := pub.handle(&session.Event{Kind: session.KindPackets, Packets: [][]byte{publish(v5, "a/b", "m1", qos(2, 7))}}); !errors.Is(err, errMarkFailed) {
		t.Fatalf("first PUBLISH: err %v, want the failed MarkFannedOut", err)
	}
	pub.lost()
	pub = e.open(v5)
	pub.send(connect(v5, "pub", persistent()))
	r := pub.send(publish(v5, "a/b", "m1", qos(2, 7), dup()))
	if rec := one[*packet.Pubrec](t, pub.out(r)); rec.ReasonCode != packet.Success {
		t.Fatalf("PUBREC of the resend: %s, want success", rec.ReasonCode)
	}
	entries := func(filter string) []session.StreamEntry {
		t.Helper()
		got, err := st.ReadStream(context.Background(), session.StreamID{Filter: filter, Shard: session.ShardOf("a/b", session.StreamShards)}, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	first := map[string]uint64{}
	for _, f := range []string{"a/b", "a/#"} {
		got := entries(f)
		if len(got) != 1 || string(got[0].Message.Payload) != "m1" {
			t.Fatalf("sub-stream %s holds %d entries after the resend, want m1 once", f, len(got))
		}
		first[f] = got[0].Offset
	}
	// The resend's reply delivers those entries to the online subscriber.
	delivered := map[string]uint64{}
	for _, d := range r.Deliveries {
		if d.Conn != sub.id {
			continue
		}
		for _, sd := range d.Streams {
			for _, en := range sd.Entries {
				delivered[sd.Stream.Filter] = en.Offset
			}
		}
	}
	for f, off := range first {
		if delivered[f] != off {
			t.Errorf("the resend delivered %s at offset %d, want the entry appended first, at %d", f, delivered[f], off)
		}
	}

	pub.send(pubrel(v5, 7))
	pub.send(publish(v5, "a/b", "m2", qos(2, 7)))
	for _, f := range []string{"a/b", "a/#"} {
		if got := entries(f); len(got) != 2 || string(got[1].Message.Payload) != "m2" {
			t.Errorf("sub-stream %s holds %d entries after m2 under the same packet id, want m1 and m2", f, len(got))
		}
	}
}
