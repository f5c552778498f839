package session_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
)

// countingStore counts the store calls that one event coalesces.
type countingStore struct {
	session.Store
	enqueue, dispatch, acknowledge atomic.Int64
}

func (s *countingStore) Enqueue(ctx context.Context, id string, msgs []*session.Outbound, limit session.QueueLimit, conn string, window int) (int, []*session.Outbound, error) {
	s.enqueue.Add(1)
	return s.Store.Enqueue(ctx, id, msgs, limit, conn, window)
}

func (s *countingStore) Dispatch(ctx context.Context, id, conn string, window int) ([]*session.Outbound, error) {
	s.dispatch.Add(1)
	return s.Store.Dispatch(ctx, id, conn, window)
}

func (s *countingStore) Acknowledge(ctx context.Context, id, conn string, packetID uint16) error {
	s.acknowledge.Add(1)
	return s.Store.Acknowledge(ctx, id, conn, packetID)
}

func (s *countingStore) reset() {
	s.enqueue.Store(0)
	s.dispatch.Store(0)
	s.acknowledge.Store(0)
}

// TestCoalescedStoreWork checks that the QoS 1 messages of one event reach
// a subscriber through one Enqueue, each PUBACK going out in order with its
// reason code, that a run of PUBACKs costs one Dispatch, and that a QoS 2
// message resent within the event it came in is delivered once.
func TestCoalescedStoreWork(t *testing.T) {
	e := newEnv(t, session.Config{})
	cs := &countingStore{Store: e.store}
	h, err := session.New(cs, e.cfg, nil, session.WithClock(e.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	e.h = h
	sub1, _, _ := e.connect(v5, "sub", receiveMax(4))
	sub1.sub(sub("t/#", 1))
	sub2, _, _ := e.connect(v5, "sub2")
	sub2.sub(sub("q/#", 2))
	pub, _, _ := e.connect(v5, "pub")

	var frames [][]byte
	var want []string
	for i := range 10 {
		frames = append(frames, publish(v5, "t/x", fmt.Sprintf("m%d", i), qos(1, uint16(i+1))))
		want = append(want, fmt.Sprintf("m%d", i))
	}
	frames = append(frames, publish(v5, "nobody/x", "lost", qos(1, 11)))
	cs.reset()
	r := pub.send(frames...)
	acks := ofType[*packet.Puback](pub.out(r))
	if len(acks) != 11 {
		t.Fatalf("got %s, want 11 PUBACKs", describeAll(pub.out(r)))
	}
	for i, a := range acks {
		rc := packet.Success
		if i == 10 {
			rc = packet.NoMatchingSubscribers
		}
		if a.PacketID != uint16(i+1) || a.ReasonCode != rc {
			t.Fatalf("PUBACK %d: %s, want id %d rc 0x%02X", i, describe(a), i+1, byte(rc))
		}
	}
	if n := cs.enqueue.Load(); n != 1 {
		t.Errorf("%d Enqueue calls for one subscriber, want 1", n)
	}
	got := sub1.recv(r)
	wantPayloads(t, got, want[:4]...)

	var ackFrames [][]byte
	for _, p := range publishes(got) {
		ackFrames = append(ackFrames, puback(v5, p.PacketID))
	}
	cs.reset()
	r = sub1.send(ackFrames...)
	wantPayloads(t, sub1.out(r), want[4:8]...)
	if n, d := cs.acknowledge.Load(), cs.dispatch.Load(); n != 4 || d != 1 {
		t.Errorf("%d Acknowledge and %d Dispatch calls for 4 PUBACKs, want 4 and 1", n, d)
	}

	r = pub.send(publish(v5, "q/x", "once", qos(2, 50)), publish(v5, "q/x", "once", qos(2, 50), dup()))
	recs := ofType[*packet.Pubrec](pub.out(r))
	if len(recs) != 2 || recs[0].ReasonCode != packet.Success || recs[1].ReasonCode != packet.Success {
		t.Fatalf("got %s, want two PUBRECs", describeAll(pub.out(r)))
	}
	wantPayloads(t, sub2.recv(r), "once")
	r = pub.send(publish(v5, "q/x", "once", qos(2, 50), dup()))
	wantPayloads(t, sub2.recv(r))
	wantTypes(t, pub.out(r), packet.PUBREC)
}
