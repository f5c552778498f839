package session_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
)

// retainN stores n retained messages of size bytes on prefix/<i> from a
// publisher of its own.
func retainN(e *env, prefix string, n, size int, q byte) {
	e.t.Helper()
	pub := e.open(packet.V5)
	pub.send(connect(packet.V5, "pub-"+prefix))
	payload := strings.Repeat("p", size)
	for i := range n {
		pub.send(publish(packet.V5, fmt.Sprintf("%s/%03d", prefix, i), payload, retained(), withQoS(q, uint16(i+1))))
	}
}

func withQoS(q byte, id uint16) pubOpt {
	if q == 0 {
		return func(*packet.Publish) {}
	}
	return qos(q, id)
}

// retainedTopics returns the topics of the retained PUBLISH packets in ps
// and acknowledges the QoS 1 ones from c.
func retainedTopics(t *testing.T, ps []packet.Packet, got map[string]int) (acks [][]byte) {
	for _, p := range ps {
		if pub, ok := p.(*packet.Publish); ok && pub.Retain {
			got[pub.Topic]++
			if pub.QoS == 1 {
				acks = append(acks, encode(t, &packet.Puback{PacketID: pub.PacketID}, packet.V5))
			}
		}
	}
	return acks
}

// TestRetainedPagesWithinSendRoom: a SUBSCRIBE over more retained QoS 0
// messages than the send queue takes sends no more than its room, asks
// for more (RetainedMore), and KindRetained events send the rest, each
// within the room, until every message went exactly once.
func TestRetainedPagesWithinSendRoom(t *testing.T) {
	e := newEnv(t, session.Config{})
	retainN(e, "r", 100, 1000, 0)
	c := e.open(packet.V5)
	c.send(connect(packet.V5, "sub"))
	const room = 10_000
	r, err := c.handle(&session.Event{Kind: session.KindPackets, SendRoom: room, Packets: [][]byte{subscribe(packet.V5, 1, sub("r/#", 0))}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	events := 0
	for {
		size := 0
		for _, b := range r.Packets {
			size += len(b)
		}
		if size > room {
			t.Fatalf("event %d: %d bytes in the reply, over the room of %d", events, size, room)
		}
		retainedTopics(t, c.out(r), got)
		if !c.state.RetainedMore {
			break
		}
		events++
		if events > 100 {
			t.Fatal("no end to the retained messages")
		}
		if r, err = c.handle(&session.Event{Kind: session.KindRetained, SendRoom: room}); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 100 || len(c.state.Retained) != 0 {
		t.Errorf("%d of 100 retained messages sent, scans left %v", len(got), c.state.Retained)
	}
	for topic, n := range got {
		if n != 1 {
			t.Errorf("%s sent %d times", topic, n)
		}
	}
	if events < 9 {
		t.Errorf("100 KB in %d pages of at most %d bytes", events+1, room)
	}
}

// TestRetainedQoS1PastQueue: retained QoS 1 messages beyond -max-queued
// and the window all reach a client that acknowledges them; none is
// dropped at the session's queue.
func TestRetainedQoS1PastQueue(t *testing.T) {
	e := newEnv(t, session.Config{MaxQueued: 10, MaxInflight: 5})
	retainN(e, "q", 60, 10, 1)
	c := e.open(packet.V5)
	c.send(connect(packet.V5, "sub"))
	r := c.send(subscribe(packet.V5, 1, sub("q/#", 1)))
	got := map[string]int{}
	for range 100 {
		acks := retainedTopics(t, c.out(r), got)
		if len(acks) == 0 {
			break
		}
		r = c.send(acks...)
	}
	if len(got) != 60 {
		t.Errorf("%d of 60 retained QoS 1 messages delivered", len(got))
	}
}

// TestRetainedLimits: a retained PUBLISH past -max-retained is refused at
// 5.0 with PUBACK 0x97, and goes nowhere; at 3.1.1 it is acknowledged and
// delivered to current subscribers, but not retained. Removing one frees
// room.
func TestRetainedLimits(t *testing.T) {
	e := newEnv(t, session.Config{MaxRetained: 2})
	live := e.open(packet.V5)
	live.send(connect(packet.V5, "live"))
	live.send(subscribe(packet.V5, 1, sub("l/#", 0)))
	pub := e.open(packet.V5)
	pub.send(connect(packet.V5, "pub"))
	for i, want := range []packet.ReasonCode{packet.NoMatchingSubscribers, packet.NoMatchingSubscribers, packet.QuotaExceeded} {
		r := pub.send(publish(packet.V5, fmt.Sprintf("x/%d", i), "m", retained(), qos(1, uint16(i+1))))
		if ack := one[*packet.Puback](t, pub.out(r)); ack.ReasonCode != want {
			t.Errorf("retained message %d: PUBACK %s, want %s", i+1, ack.ReasonCode, want)
		}
	}
	r := pub.send(publish(packet.V5, "l/5", "m", retained(), qos(1, 9)))
	if ack := one[*packet.Puback](t, pub.out(r)); ack.ReasonCode != packet.QuotaExceeded {
		t.Errorf("retained message past the limit: PUBACK %s, want 0x97", ack.ReasonCode)
	}
	if ps := live.recv(r); len(ps) != 0 {
		t.Errorf("a refused 5.0 message was delivered: %s", describeAll(ps))
	}
	old := e.open(packet.V311)
	old.send(connect(packet.V311, "old"))
	r = old.send(publish(packet.V311, "l/3", "m", retained(), qos(1, 1)))
	if ack := one[*packet.Puback](t, old.out(r)); ack.ReasonCode != packet.Success {
		t.Errorf("3.1.1 PUBACK %s", ack.ReasonCode)
	}
	if ps := live.recv(r); len(ps) != 1 {
		t.Errorf("the 3.1.1 message past the limit reached the live subscriber %d times, want once", len(ps))
	}
	pub.send(publish(packet.V5, "x/0", "", retained()))
	r = pub.send(publish(packet.V5, "x/9", "m", retained(), qos(1, 10)))
	if ack := one[*packet.Puback](t, pub.out(r)); ack.ReasonCode == packet.QuotaExceeded {
		t.Errorf("a retained message after a removal freed room refused")
	}
	c := e.open(packet.V5)
	c.send(connect(packet.V5, "sub"))
	got := map[string]int{}
	retainedTopics(t, c.out(c.send(subscribe(packet.V5, 1, sub("#", 0)))), got)
	if len(got) != 2 || got["x/1"] != 1 || got["x/9"] != 1 {
		t.Errorf("retained: %v, want x/1 and x/9", got)
	}
}
