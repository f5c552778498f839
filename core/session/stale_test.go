package session_test

import (
	"testing"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
)

// A call of a connection that was taken over while its event was on the
// way (a proxy draining on SIGTERM cuts the connection with a PUBLISH in
// its handler call; the client reconnects through another proxy with
// Clean Start, and the new CONNECT is handled first) must not leave QoS 2
// receive state in the new session: the new connection numbers its
// packets afresh, and a PUBLISH of a new message under the same packet
// identifier would be taken for a resend of the stale one, acknowledged
// with PUBREC and delivered to no one (issue 15, the rolling replacement).
func TestStaleCallLeavesNoReceiveState(t *testing.T) {
	for _, v := range versions() {
		t.Run(v.String(), func(t *testing.T) {
			e := newEnv(t, session.Config{})
			sub, _, _ := e.connect(v, "sub", persistent())
			sub.sub(sub2("t/#"))
			old, _, _ := e.connect(v, "pub")
			// The client reconnects with Clean Start through another
			// proxy before the old connection's PUBLISH is handled.
			cur, _, _ := e.connectOn("proxy-2", v, "pub")

			r, err := old.handle(&session.Event{Kind: session.KindPackets, Packets: [][]byte{publish(v, "t/x", "stale", qos(2, 1))}})
			if err != nil {
				t.Fatalf("stale PUBLISH: %v", err)
			}
			if !r.Close {
				t.Errorf("stale PUBLISH: the connection that was taken over is not closed")
			}
			if acks := ofType[*packet.Pubrec](old.out(r)); len(acks) != 0 {
				t.Errorf("stale PUBLISH acknowledged on the connection taken over: %s", describeAll(old.out(r)))
			}
			old.lost()

			// The new connection's first QoS 2 PUBLISH uses packet id 1 too.
			r = cur.send(publish(v, "t/x", "fresh", qos(2, 1)))
			wantTypes(t, cur.out(r), packet.PUBREC)
			got := payloads(sub.recv(r))
			if len(got) != 1 || got[0] != "fresh" {
				t.Fatalf("the subscriber got %q, want the new connection's message [\"fresh\"]", got)
			}
			wantTypes(t, cur.out(cur.send(pubrel(v, 1))), packet.PUBCOMP)
		})
	}
}

// A PUBREL of a connection that was taken over does not forget the new
// connection's receive state of the same packet identifier: a resend of
// that PUBLISH would be delivered twice [MQTT-4.3.3-3] (3.1.1: section
// 4.3.3, method A).
func TestStalePubrelKeepsReceiveState(t *testing.T) {
	for _, v := range versions() {
		t.Run(v.String(), func(t *testing.T) {
			e := newEnv(t, session.Config{})
			sub, _, _ := e.connect(v, "sub", persistent())
			sub.sub(sub2("t/#"))
			old, _, _ := e.connect(v, "pub")
			cur, _, _ := e.connectOn("proxy-2", v, "pub")
			r := cur.send(publish(v, "t/x", "m", qos(2, 1)))
			wantTypes(t, cur.out(r), packet.PUBREC)
			wantPayloads(t, sub.recv(r), "m")

			r, err := old.handle(&session.Event{Kind: session.KindPackets, Packets: [][]byte{pubrel(v, 1)}})
			if err != nil {
				t.Fatalf("stale PUBREL: %v", err)
			}
			if !r.Close {
				t.Errorf("stale PUBREL: the connection that was taken over is not closed")
			}
			old.lost()

			r = cur.send(publish(v, "t/x", "m", qos(2, 1), dup()))
			wantTypes(t, cur.out(r), packet.PUBREC)
			if got := payloads(sub.recv(r)); len(got) != 0 {
				t.Fatalf("the resend before PUBREL reached the subscriber again: %q", got)
			}
		})
	}
}

func sub2(filter string) packet.Subscription { return sub(filter, 2) }

// A PUBACK of a subscriber's connection that was taken over (its call was
// under way when a draining proxy cut it; the client resumed its session
// through another proxy first) frees room in the window; the messages
// that then go in flight go to the connection that holds the session, not
// to the closed one, where they would wait in flight, unsent, until the
// client connects again [MQTT-4.4.0-1].
func TestStaleAckDispatchesToTheOwner(t *testing.T) {
	e := newEnv(t, session.Config{})
	old, _, _ := e.connect(v5, "sub", persistent(), receiveMax(1))
	old.sub(sub(`t/#`, 1))
	pub, _, _ := e.connect(v5, "pub")
	r := pub.send(publish(v5, "t/x", "m1", qos(1, 1)), publish(v5, "t/x", "m2", qos(1, 2)))
	first := publishes(old.recv(r))
	if len(first) != 1 || string(first[0].Payload) != "m1" {
		t.Fatalf("the window of one holds %s, want m1", describeAll(old.recv(r)))
	}
	// The client resumes through another proxy: m1 is resent, m2 waits
	// for the window.
	cur, _, after := e.connectOn("proxy-2", v5, "sub", persistent(), receiveMax(1))
	wantPayloads(t, after, "m1")

	// The old connection's PUBACK of m1, handled only now.
	r, err := old.handle(&session.Event{Kind: session.KindPackets, Packets: [][]byte{puback(v5, first[0].PacketID)}})
	if err != nil {
		t.Fatalf("stale PUBACK: %v", err)
	}
	if got := publishes(old.out(r)); len(got) != 0 {
		t.Errorf("m2 sent to the connection taken over: %s", describeAll(old.out(r)))
	}
	got := payloads(cur.recv(r))
	old.lost()
	// The new connection's PUBACK of m1 (already ended) dispatches too.
	r = cur.send(puback(v5, after[0].(*packet.Publish).PacketID))
	got = append(got, payloads(cur.out(r))...)
	if len(got) != 1 || got[0] != "m2" {
		t.Fatalf("the connection holding the session got %q, want [\"m2\"]", got)
	}
}
