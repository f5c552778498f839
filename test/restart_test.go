package e2e_test

import (
	"fmt"
	"testing"

	"github.com/mqttless/mqttless/core/packet"
)

// The restart tests run a broker with -store bolt on a data directory of
// their own, stop it (SIGTERM, or SIGKILL for a crash) and start it again on
// the same directory and address. They need the on-disk store: while
// infra/allinone/store.go opens the in-memory store for every -store value,
// they fail at the first check after the restart.

// startBolt starts a broker with the bolt store on a fresh data directory.
func startBolt(t *testing.T) *broker {
	t.Helper()
	needOwnBroker(t)
	return startBroker(t, withFlags("-store", "bolt"), withDataDir(t.TempDir()))
}

// reconnectAfterRestart connects id to a persistent session and fails the
// test if the session did not survive the restart.
func reconnectAfterRestart(t *testing.T, b *broker, v packet.Version, id string) *rawClient {
	t.Helper()
	c := dialRaw(t, b.addr, v)
	if ack := c.mustConnect(connectPacket(v, id, false)); !ack.SessionPresent {
		t.Fatalf("Session Present 0 for %s after the broker restarted: the session was not kept on disk (-store bolt)", id)
	}
	return c
}

// TestRestartKeepsQueuedMessages queues QoS 1 and 2 messages for an
// offline persistent session, restarts the broker, and gets them all, in
// order, on reconnect.
//
// 5.0 [MQTT-3.1.2-23] [MQTT-4.5.0-1] [MQTT-4.6.0-5], 3.1.1 [MQTT-3.1.2-4]
// [MQTT-3.1.2-5]: the session and its queued messages outlive a restart.
func TestRestartKeepsQueuedMessages(t *testing.T) {
	t.Parallel()
	forRaw(t, func(t *testing.T, v packet.Version) {
		b := startBolt(t)
		id := uniq("rq")
		root := topicRoot("rq")
		sub, _ := rawConnect(t, b.addr, v, id, false)
		sub.subscribe(1, packet.Subscription{Filter: root, QoS: 2})
		sub.disconnect(packet.Success)
		pub, _ := rawConnect(t, b.addr, v, uniq("rq-pub"), true)
		qos := []byte{1, 2, 1, 2, 2, 1}
		for i, q := range qos {
			pub.publish(&packet.Publish{Topic: root, QoS: q, PacketID: uint16(i + 1), Payload: []byte(fmt.Sprint(i))})
		}

		b = b.restart(t)
		sub = reconnectAfterRestart(t, b, v, id)
		for i, q := range qos {
			p := sub.expectPublish(root, fmt.Sprint(i))
			if p.QoS != q {
				t.Errorf("message %d at QoS %d, want %d", i, p.QoS, q)
			}
			sub.ack(p)
		}
		sub.expectNone(quietTime)
	})
}

// TestRestartResumesOutboundQoS2 stops the broker in the middle of a QoS 2
// delivery (the subscriber sent PUBREC and got PUBREL, but sent no PUBCOMP):
// after the restart the broker resumes with PUBREL, not with the PUBLISH,
// and the message is delivered once.
//
// [MQTT-4.4.0-1] unacknowledged PUBREL resent on reconnect; 5.0
// [MQTT-4.3.3-6] no PUBLISH once PUBREL was sent; the session outlives the
// restart (5.0 [MQTT-3.1.2-23]).
func TestRestartResumesOutboundQoS2(t *testing.T) {
	t.Parallel()
	forRaw(t, func(t *testing.T, v packet.Version) {
		b := startBolt(t)
		id := uniq("rout")
		root := topicRoot("rout")
		sub, _ := rawConnect(t, b.addr, v, id, false)
		sub.subscribe(1, packet.Subscription{Filter: root, QoS: 2})
		pub, _ := rawConnect(t, b.addr, v, uniq("rout-pub"), true)
		pub.publish(&packet.Publish{Topic: root, QoS: 2, PacketID: 1, Payload: []byte("exactly once")})
		p := sub.expectPublish(root, "exactly once")
		sub.send(&packet.Pubrec{PacketID: p.PacketID})
		sub.expectPubrel(p.PacketID)

		b = b.restart(t)
		sub = reconnectAfterRestart(t, b, v, id)
		rel := expect[*packet.Pubrel](t, sub)
		if rel.PacketID != p.PacketID {
			t.Fatalf("PUBREL for %d after the restart, want %d", rel.PacketID, p.PacketID)
		}
		sub.send(&packet.Pubcomp{PacketID: p.PacketID})
		sub.expectNone(quietTime)
		sub.disconnect(packet.Success)
		sub = reconnectAfterRestart(t, b, v, id)
		sub.expectNone(quietTime)
	})
}

// TestRestartKeepsInboundQoS2 stops the broker after it acknowledged a QoS
// 2 PUBLISH with PUBREC but before the publisher released it: the publisher
// sends the PUBLISH again after the restart, completes the exchange, and
// the subscriber still has exactly one copy.
//
// 5.0 [MQTT-4.3.3-10] (3.1.1 [MQTT-4.3.3-2]) no second delivery before
// PUBREL; [MQTT-4.3.3-11] [MQTT-4.3.3-12]; the receive state is part of the
// session (5.0 section 4.1, 3.1.1 section 4.1) and outlives the restart.
func TestRestartKeepsInboundQoS2(t *testing.T) {
	t.Parallel()
	forRaw(t, func(t *testing.T, v packet.Version) {
		b := startBolt(t)
		subID, pubID := uniq("rin-sub"), uniq("rin-pub")
		root := topicRoot("rin")
		sub, _ := rawConnect(t, b.addr, v, subID, false)
		sub.subscribe(1, packet.Subscription{Filter: root, QoS: 2})
		pub, _ := rawConnect(t, b.addr, v, pubID, false)
		p := &packet.Publish{Topic: root, QoS: 2, PacketID: 9, Payload: []byte("once")}
		pub.send(p)
		if rec := expect[*packet.Pubrec](t, pub); rec.PacketID != 9 || rec.ReasonCode.IsError() {
			t.Fatalf("PUBREC %+v", rec)
		}
		sub.ack(sub.expectPublish(root, "once"))
		// A SUBACK is handled after the PUBCOMP that ack sent (one
		// connection's packets are handled in order), so the exchange is
		// complete before the restart; otherwise the broker rightly resends
		// PUBREL after it [MQTT-4.4.0-1].
		sub.subscribe(2, packet.Subscription{Filter: root + "/sync", QoS: 0})

		b = b.restart(t)
		pub = reconnectAfterRestart(t, b, v, pubID)
		again := *p
		again.Dup = true
		pub.send(&again)
		if rec := expect[*packet.Pubrec](t, pub); rec.PacketID != 9 || rec.ReasonCode.IsError() {
			t.Fatalf("PUBREC for the resent PUBLISH: %+v", rec)
		}
		pub.send(&packet.Pubrel{PacketID: 9})
		if comp := expect[*packet.Pubcomp](t, pub); comp.PacketID != 9 || comp.ReasonCode != packet.Success {
			t.Fatalf("PUBCOMP %+v, want success: the receive state of packet 9 was lost", comp)
		}
		sub = reconnectAfterRestart(t, b, v, subID)
		sub.expectNone(quietTime)
		// The identifier, released, now names a new message, which does arrive.
		pub.publish(&packet.Publish{Topic: root, QoS: 2, PacketID: 9, Payload: []byte("next")})
		sub.ack(sub.expectPublish(root, "next"))
		sub.expectNone(quietTime)
	})
}

// TestRestartKeepsRetainedAndSubscriptions restarts the broker and checks
// that a retained message and a persistent session's subscription are
// still there.
//
// 3.1.1 [MQTT-3.3.1-5] [MQTT-3.3.1-6], 5.0 [MQTT-3.3.1-5] [MQTT-3.3.1-9]
// retained messages; 3.1.1 [MQTT-3.1.2-4], 5.0 [MQTT-3.1.2-5] the session's
// subscriptions.
func TestRestartKeepsRetainedAndSubscriptions(t *testing.T) {
	t.Parallel()
	forRaw(t, func(t *testing.T, v packet.Version) {
		b := startBolt(t)
		id := uniq("rret")
		root := topicRoot("rret")
		pub, _ := rawConnect(t, b.addr, v, uniq("rret-pub"), true)
		pub.publish(&packet.Publish{Topic: root + "/r", QoS: 1, PacketID: 1, Retain: true, Payload: []byte("kept")})
		pub.publish(&packet.Publish{Topic: root + "/gone", QoS: 1, PacketID: 2, Retain: true, Payload: []byte("cleared")})
		pub.publish(&packet.Publish{Topic: root + "/gone", QoS: 1, PacketID: 3, Retain: true})
		sub, _ := rawConnect(t, b.addr, v, id, false)
		sub.subscribe(1, packet.Subscription{Filter: root + "/s", QoS: 1})
		sub.disconnect(packet.Success)

		b = b.restart(t)
		fresh, _ := rawConnect(t, b.addr, v, uniq("rret-fresh"), true)
		fresh.subscribe(1, packet.Subscription{Filter: root + "/#", QoS: 1})
		p, err := fresh.next(waitTime)
		if err != nil {
			t.Fatalf("the retained message did not survive the restart (-store bolt): %v", err)
		}
		m, ok := p.(*packet.Publish)
		if !ok || m.Topic != root+"/r" || string(m.Payload) != "kept" {
			t.Fatalf("got %s %+v, want the retained message %q", p.Type(), p, "kept")
		}
		if !m.Retain {
			t.Errorf("retained message sent without RETAIN after the restart")
		}
		fresh.ack(m)
		fresh.expectNone(quietTime)

		sub = reconnectAfterRestart(t, b, v, id)
		pub, _ = rawConnect(t, b.addr, v, uniq("rret-pub"), true)
		pub.publish(&packet.Publish{Topic: root + "/s", QoS: 1, PacketID: 1, Payload: []byte("still subscribed")})
		sub.ack(sub.expectPublish(root+"/s", "still subscribed"))
	})
}

// TestKill9KeepsAcknowledgedQoS1 kills the broker with SIGKILL after it
// acknowledged QoS 1 messages for an offline persistent session: after the
// restart every one of them is delivered.
//
// [MQTT-4.3.2-4] PUBACK means the broker took ownership of the message;
// 5.0 [MQTT-4.5.0-1] it is added to the session of each matching
// subscriber; 5.0 [MQTT-3.1.2-23], 3.1.1 [MQTT-3.1.2-5] and the session
// outlives the connection (here, the process).
func TestKill9KeepsAcknowledgedQoS1(t *testing.T) {
	t.Parallel()
	forRaw(t, func(t *testing.T, v packet.Version) {
		b := startBolt(t)
		id := uniq("k9")
		root := topicRoot("k9")
		sub, _ := rawConnect(t, b.addr, v, id, false)
		sub.subscribe(1, packet.Subscription{Filter: root, QoS: 1})
		sub.disconnect(packet.Success)
		pub, _ := rawConnect(t, b.addr, v, uniq("k9-pub"), true)
		const n = 50
		for i := range n {
			pub.publish(&packet.Publish{Topic: root, QoS: 1, PacketID: uint16(i + 1), Payload: []byte(fmt.Sprint(i))})
		}

		b.kill9()
		b = b.restart(t)
		sub = reconnectAfterRestart(t, b, v, id)
		got := map[string]bool{}
		for len(got) < n {
			p, err := sub.next(waitTime)
			if err != nil {
				t.Fatalf("after %d of %d acknowledged messages: %v", len(got), n, err)
			}
			m, ok := p.(*packet.Publish)
			if !ok || m.Topic != root {
				t.Fatalf("got %s %+v", p.Type(), p)
			}
			got[string(m.Payload)] = true // a duplicate is allowed at QoS 1
			sub.ack(m)
		}
	})
}

// TestKill9PublishesWills: connections a killed broker held are ended when
// it starts again, so their wills go out ([MQTT-3.1.2-8]: the network
// connection closed without DISCONNECT) instead of leaving their sessions
// online for ever.
func TestKill9PublishesWills(t *testing.T) {
	t.Parallel()
	forRaw(t, func(t *testing.T, v packet.Version) {
		b := startBolt(t)
		root := topicRoot("k9will")
		watcherID := uniq("k9-watch")
		watcher, _ := rawConnect(t, b.addr, v, watcherID, false)
		watcher.subscribe(1, packet.Subscription{Filter: root + "/#", QoS: 1})
		dying := dialRaw(t, b.addr, v)
		p := connectPacket(v, uniq("k9-dying"), true)
		p.Will = &packet.Will{Topic: root + "/status", Payload: []byte("offline"), QoS: 1}
		dying.mustConnect(p)

		b.kill9()
		b = b.restart(t)
		watcher = reconnectAfterRestart(t, b, v, watcherID)
		m := watcher.expectPublish(root+"/status", "offline")
		watcher.ack(m)
	})
}
