package e2e_test

// Tests of the serverless deployment proper: two proxies with pools of
// their own of the same handler functions, on one table, as on AWS where
// any proxy may hold any client and the functions deliver through the
// proxy that holds the connection. They run only on the local serverless
// stack (MQTTLESS_E2E_STACK=lambda, make test-e2e-lambda).

import (
	"fmt"
	"testing"

	"github.com/mqttless/mqttless/core/packet"
)

// startPair starts two proxies on one table (one data directory).
func startPair(t *testing.T) (a, b *broker) {
	t.Helper()
	needStack(t)
	needOwnBroker(t)
	dir := t.TempDir()
	a = startBroker(t, withDataDir(dir), withFlags("-tick", "100ms"))
	b = startBroker(t, withDataDir(dir), withFlags("-tick", "100ms"))
	return a, b
}

// TestServerlessTakeover connects a client id to proxy A and then, with
// the same id, to proxy B: the connection on A is closed (with DISCONNECT
// 0x8E at 5.0), the one on B resumes the persistent session and gets what
// is published for it. A third connection with clean start, on A again,
// takes over from B with Session Present 0.
//
// 3.1.1 [MQTT-3.1.4-2], 5.0 [MQTT-3.1.4-3]: the existing connection of the
// client id is disconnected, whichever proxy holds it; 5.0 [MQTT-3.2.2-2]
// [MQTT-3.2.2-3], 3.1.1 [MQTT-3.2.2-1] [MQTT-3.2.2-2]: Session Present.
func TestServerlessTakeover(t *testing.T) {
	t.Parallel()
	a, b := startPair(t)
	forRaw(t, func(t *testing.T, v packet.Version) {
		id := uniq("sl-takeover")
		root := topicRoot("sl-takeover")
		first, ack := rawConnect(t, a.addr, v, id, false)
		if ack.SessionPresent {
			t.Errorf("new session on A: Session Present 1")
		}
		first.subscribe(1, packet.Subscription{Filter: root, QoS: 1})

		second, ack := rawConnect(t, b.addr, v, id, false)
		if !ack.SessionPresent {
			t.Errorf("taking over on B the persistent session held on A: Session Present 0")
		}
		checkTakenOver(t, v, first, "first connection (A)")
		second.ping()

		pub, _ := rawConnect(t, a.addr, v, uniq("sl-takeover-pub"), true)
		pub.publish(&packet.Publish{Topic: root, QoS: 1, PacketID: 1, Payload: []byte("to B")})
		second.ack(second.expectPublish(root, "to B"))

		third, ack := rawConnect(t, a.addr, v, id, true)
		if ack.SessionPresent {
			t.Errorf("clean start on A over the session held on B: Session Present 1")
		}
		checkTakenOver(t, v, second, "second connection (B)")
		third.ping()
		pub.publish(&packet.Publish{Topic: root, QoS: 1, PacketID: 2, Payload: []byte("nobody")})
		third.expectNone(quietTime) // clean start dropped the subscription
	})
}

// checkTakenOver waits until c is closed for a takeover: with DISCONNECT
// 0x8E at 5.0, without DISCONNECT at 3.1.1.
func checkTakenOver(t *testing.T, v packet.Version, c *rawClient, what string) {
	t.Helper()
	d := c.expectClose(waitTime)
	switch {
	case v == packet.V5 && (d == nil || d.ReasonCode != packet.SessionTakenOver):
		t.Errorf("%s got DISCONNECT %+v, want 0x8E (session taken over)", what, d)
	case v == packet.V311 && d != nil:
		t.Errorf("%s got a DISCONNECT at 3.1.1", what)
	}
}

// TestServerlessFanOut publishes through proxy A to subscribers on A and on
// B, at QoS 0 and 1: every subscriber gets every message, in order, at the
// QoS published.
//
// 5.0 [MQTT-4.6.0-5] [MQTT-4.6.0-6], 3.1.1 [MQTT-4.6.0-5] [MQTT-4.6.0-6]:
// the messages of one publisher on one topic keep their order (for QoS 0
// too: nothing is lost on the way between proxies).
func TestServerlessFanOut(t *testing.T) {
	t.Parallel()
	a, b := startPair(t)
	forRaw(t, func(t *testing.T, v packet.Version) {
		for _, qos := range []byte{0, 1} {
			root := topicRoot(fmt.Sprintf("sl-fan%d", qos))
			subA, _ := rawConnect(t, a.addr, v, uniq("sl-fan-a"), true)
			subA.subscribe(1, packet.Subscription{Filter: root, QoS: qos})
			subB, _ := rawConnect(t, b.addr, v, uniq("sl-fan-b"), true)
			subB.subscribe(1, packet.Subscription{Filter: root, QoS: qos})
			pub, _ := rawConnect(t, a.addr, v, uniq("sl-fan-pub"), true)
			const n = 20
			for i := range n {
				pub.publish(&packet.Publish{Topic: root, QoS: qos, PacketID: uint16(i + 1), Payload: []byte(fmt.Sprint(i))})
			}
			for name, sub := range map[string]*rawClient{"subscriber on A": subA, "subscriber on B": subB} {
				for i := range n {
					p, err := sub.next(waitTime)
					if err != nil {
						t.Fatalf("QoS %d, %s: after %d of %d messages: %v", qos, name, i, n, err)
					}
					m, ok := p.(*packet.Publish)
					if !ok {
						t.Fatalf("QoS %d, %s: got %s %+v, want PUBLISH %d", qos, name, p.Type(), p, i)
					}
					if m.Topic != root || string(m.Payload) != fmt.Sprint(i) || m.QoS != qos {
						t.Fatalf("QoS %d, %s: got %q %q at QoS %d, want %q %q (in order)", qos, name, m.Topic, m.Payload, m.QoS, root, fmt.Sprint(i))
					}
					sub.ack(m)
				}
				sub.expectNone(quietTime)
			}
			subA.disconnect(packet.Success)
			subB.disconnect(packet.Success)
			pub.disconnect(packet.Success)
		}
	})
}

// TestServerlessKill9InFlight kills proxy A with SIGKILL while QoS 1
// messages are in flight, unacknowledged, to a persistent session held on
// A; more are published (through B) meanwhile. The client reconnects
// through B, resumes the session, gets the unacknowledged messages again
// with DUP set and the same packet identifiers, then the others, in order.
//
// 3.1.1 [MQTT-4.4.0-1], 5.0 [MQTT-4.4.0-1]: unacknowledged PUBLISH packets
// are resent, with DUP ([MQTT-3.3.1-1]), when the session resumes; 3.1.1
// [MQTT-3.1.2-5], 5.0 [MQTT-3.1.2-23]: the session outlives the connection
// and the proxy that held it.
func TestServerlessKill9InFlight(t *testing.T) {
	t.Parallel()
	forRaw(t, func(t *testing.T, v packet.Version) {
		a, b := startPair(t)
		id := uniq("sl-k9")
		root := topicRoot("sl-k9")
		sub, _ := rawConnect(t, a.addr, v, id, false)
		sub.subscribe(1, packet.Subscription{Filter: root, QoS: 1})
		pub, _ := rawConnect(t, b.addr, v, uniq("sl-k9-pub"), true)
		const n = 5
		ids := map[string]uint16{}
		for i := range n {
			pub.publish(&packet.Publish{Topic: root, QoS: 1, PacketID: uint16(i + 1), Payload: []byte(fmt.Sprint(i))})
		}
		for i := range n {
			p := sub.expectPublish(root, fmt.Sprint(i))
			if p.Dup || p.QoS != 1 {
				t.Fatalf("first delivery of %d: QoS %d DUP %v, want QoS 1 without DUP", i, p.QoS, p.Dup)
			}
			ids[fmt.Sprint(i)] = p.PacketID // not acknowledged
		}

		a.kill9()
		for i := n; i < 2*n; i++ {
			pub.publish(&packet.Publish{Topic: root, QoS: 1, PacketID: uint16(i + 1), Payload: []byte(fmt.Sprint(i))})
		}

		sub = dialRaw(t, b.addr, v)
		if ack := sub.mustConnect(connectPacket(v, id, false)); !ack.SessionPresent {
			t.Fatalf("reconnecting through B after A was killed: Session Present 0")
		}
		for i := range 2 * n {
			p := sub.expectPublish(root, fmt.Sprint(i))
			if p.QoS != 1 {
				t.Errorf("message %d at QoS %d, want 1", i, p.QoS)
			}
			if i < n && (!p.Dup || p.PacketID != ids[fmt.Sprint(i)]) {
				t.Errorf("redelivery of unacknowledged message %d: id %d DUP %v, want id %d with DUP", i, p.PacketID, p.Dup, ids[fmt.Sprint(i)])
			}
			sub.ack(p)
		}
		sub.expectNone(quietTime)
	})
}

// TestServerlessQoS0FollowsReconnect: a QoS 0 subscriber on proxy B gets a
// message published on A (which warms the publish function's copy of its
// location), then reconnects through A, resuming its session, and, in
// another round, with a clean start and no subscription. Every QoS 0
// message published after the reconnect reaches the new connection (the
// copy named the old one; B answers that it is gone and the message is
// sent again where the session now is), and after the clean start none
// does.
//
// 3.1.1 [MQTT-3.1.2-4], 5.0 [MQTT-3.1.2-4]: a resumed session keeps its
// subscriptions, a clean start ends them; 5.0 [MQTT-4.6.0-6]: order.
func TestServerlessQoS0FollowsReconnect(t *testing.T) {
	t.Parallel()
	a, b := startPair(t)
	forRaw(t, func(t *testing.T, v packet.Version) {
		id := uniq("sl-follow")
		root := topicRoot("sl-follow")
		pub, _ := rawConnect(t, a.addr, v, uniq("sl-follow-pub"), true)
		sub, _ := rawConnect(t, b.addr, v, id, false)
		sub.subscribe(1, packet.Subscription{Filter: root, QoS: 0})
		pub.publish(&packet.Publish{Topic: root, Payload: []byte("warm")})
		sub.expectPublish(root, "warm")
		sub.disconnect(packet.Success)

		again, ack := rawConnect(t, a.addr, v, id, false)
		if !ack.SessionPresent {
			t.Fatalf("reconnect through A: Session Present 0")
		}
		for i := range 5 {
			pub.publish(&packet.Publish{Topic: root, Payload: []byte(fmt.Sprint(i))})
		}
		for i := range 5 {
			again.expectPublish(root, fmt.Sprint(i))
		}
		again.expectNone(quietTime)
		again.disconnect(packet.Success)

		clean, _ := rawConnect(t, b.addr, v, id, true)
		pub.publish(&packet.Publish{Topic: root, Payload: []byte("unsubscribed")})
		clean.expectNone(quietTime)
		clean.disconnect(packet.Success)
		pub.disconnect(packet.Success)
	})
}
