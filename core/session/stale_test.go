package session_test

import (
	"fmt"
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
// through another proxy first) ends nothing: the connection that holds
// the session resent the message [MQTT-4.4.0-1], and its own PUBACK ends
// the exchange and frees the window. The old connection is closed as the
// takeover closes it, and the messages that go in flight go to the
// connection that holds the session, not to the closed one, where they
// would wait in flight, unsent, until the client connects again.
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
	wantTakenOver(t, old, r)
	if got := payloads(cur.recv(r)); len(got) != 0 {
		t.Errorf("the stale PUBACK freed the window of the connection holding the session: it got %q", got)
	}
	old.lost()
	// The new connection's PUBACK of m1 ends it and dispatches m2.
	r = cur.send(puback(v5, after[0].(*packet.Publish).PacketID))
	if got := payloads(cur.out(r)); len(got) != 1 || got[0] != "m2" {
		t.Fatalf("the connection holding the session got %q, want [\"m2\"]", got)
	}
}

// wantTakenOver checks that reply r of connection c closes it as a
// takeover does: DISCONNECT 0x8E at 5.0 [MQTT-3.1.4-3], nothing else sent.
func wantTakenOver(t *testing.T, c *conn, r *session.Reply) {
	t.Helper()
	if !r.Close {
		t.Fatalf("the connection taken over is not closed")
	}
	out := c.out(r)
	if c.v != v5 {
		if len(out) != 0 {
			t.Fatalf("the connection taken over was sent %s", describeAll(out))
		}
		return
	}
	wantTypes(t, out, packet.DISCONNECT)
	if rc := out[0].(*packet.Disconnect).ReasonCode; rc != packet.SessionTakenOver {
		t.Fatalf("the connection taken over is closed with %s, want %s", rc, packet.SessionTakenOver)
	}
}

// The acknowledgements of a subscriber's connection that was taken over
// with Clean Start (its call was under way when its proxy died; the client
// reconnected through another proxy, and the new session put a message in
// flight under a packet identifier the old one used) do not end the new
// session's exchange: the message stays in flight until the new
// connection acknowledges it. Ended by the stale PUBACK, PUBREC or
// PUBCOMP, it would be lost: never acknowledged by the client, and never
// resent (issue 15).
func TestStaleAckAfterCleanStart(t *testing.T) {
	for _, v := range versions() {
		for _, q := range []byte{1, 2} {
			t.Run(fmt.Sprintf("%s/QoS%d", v, q), func(t *testing.T) {
				e := newEnv(t, session.Config{})
				old, _, _ := e.connect(v, "sub")
				old.sub(sub(`t/#`, q))
				pub, _, _ := e.connect(v, "pub")
				r := pub.send(publish(v, "t/x", "old", qos(q, 1)))
				if len(publishes(old.recv(r))) != 1 {
					t.Fatalf("the old connection got %s, want the message", describeAll(old.recv(r)))
				}
				cur, _, _ := e.connectOn("proxy-2", v, "sub")
				cur.sub(sub(`t/#`, q))
				r = pub.send(publish(v, "t/x", "new", qos(q, 2)))
				got := publishes(cur.recv(r))
				if len(got) != 1 || string(got[0].Payload) != "new" {
					t.Fatalf("the new connection got %s, want the new message", describeAll(cur.recv(r)))
				}
				// The old connection acknowledges the new message's packet
				// id: a store may number the new session from 1 again, as
				// the old one was, and memstore does not.
				pid := got[0].PacketID

				stale := [][]byte{puback(v, pid)}
				if q == 2 {
					stale = [][]byte{pubrec(v, pid), pubcomp(v, pid)}
				}
				for _, frame := range stale {
					r, err := old.handle(&session.Event{Kind: session.KindPackets, Packets: [][]byte{frame}})
					if err != nil {
						t.Fatalf("stale acknowledgement: %v", err)
					}
					wantTakenOver(t, old, r)
				}
				old.lost()
				f, err := e.store.Inflight(t.Context(), "sub")
				if err != nil {
					t.Fatal(err)
				}
				if len(f) != 1 || string(f[0].Message.Payload) != "new" || f[0].State != session.Sent {
					t.Fatalf("in flight after the stale acknowledgements: %d messages, want the new one, Sent", len(f))
				}
				if q == 1 {
					cur.send(puback(v, pid))
				} else {
					wantTypes(t, cur.out(cur.send(pubrec(v, pid))), packet.PUBREL)
					cur.send(pubcomp(v, pid))
				}
				if f, err := e.store.Inflight(t.Context(), "sub"); err != nil || len(f) != 0 {
					t.Fatalf("in flight after the new connection's acknowledgements: %d, %v; want none", len(f), err)
				}
			})
		}
	}
}
