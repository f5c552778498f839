package e2e_test

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
)

var bothVersions = []packet.Version{packet.V311, packet.V5}

// forRaw runs f as a parallel subtest at 3.1.1 and at 5.0.
func forRaw(t *testing.T, f func(t *testing.T, v packet.Version)) {
	for _, v := range bothVersions {
		t.Run(v.String(), func(t *testing.T) {
			t.Parallel()
			f(t, v)
		})
	}
}

// TestSessionPresent walks one client id through clean and persistent
// sessions and checks Session Present and what the session keeps.
//
// 3.1.1 [MQTT-3.2.2-1] [MQTT-3.2.2-2] [MQTT-3.2.2-3], 5.0 [MQTT-3.2.2-2]
// [MQTT-3.2.2-3]: Session Present; 3.1.1 [MQTT-3.1.2-4] [MQTT-3.1.2-6], 5.0
// [MQTT-3.1.2-4] [MQTT-3.1.2-5] [MQTT-3.1.2-6]: clean start discards the
// session, a persistent one is resumed with its subscriptions.
func TestSessionPresent(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	forRaw(t, func(t *testing.T, v packet.Version) {
		id := uniq("present")
		root := topicRoot("present")
		pub, _ := rawConnect(t, b.addr, v, uniq("present-pub"), true)

		c, ack := rawConnect(t, b.addr, v, id, true)
		if ack.SessionPresent {
			t.Fatalf("clean start: Session Present 1")
		}
		c.subscribe(1, packet.Subscription{Filter: root, QoS: 1})
		c.disconnect(packet.Success)

		c, ack = rawConnect(t, b.addr, v, id, false)
		if ack.SessionPresent {
			t.Fatalf("persistent after a clean session: Session Present 1, want 0 (the clean session ended)")
		}
		pub.publish(&packet.Publish{Topic: root, QoS: 1, PacketID: 1, Payload: []byte("lost")})
		c.expectNone(quietTime) // the clean session's subscription went with it
		c.subscribe(1, packet.Subscription{Filter: root, QoS: 1})
		c.disconnect(packet.Success)

		c, ack = rawConnect(t, b.addr, v, id, false)
		if !ack.SessionPresent {
			t.Fatalf("persistent session resumed: Session Present 0")
		}
		pub.publish(&packet.Publish{Topic: root, QoS: 1, PacketID: 2, Payload: []byte("kept")})
		c.ack(c.expectPublish(root, "kept")) // the subscription was kept
		c.disconnect(packet.Success)

		c, ack = rawConnect(t, b.addr, v, id, true)
		if ack.SessionPresent {
			t.Fatalf("clean start over a persistent session: Session Present 1")
		}
		pub.publish(&packet.Publish{Topic: root, QoS: 1, PacketID: 3, Payload: []byte("gone")})
		c.expectNone(quietTime) // the clean start discarded the subscription
		c.disconnect(packet.Success)
	})
}

// TestTakeover connects a second client with the id of a connected one:
// the first connection is closed (at 5.0 after DISCONNECT 0x8E) and the
// second carries on with the session.
//
// 3.1.1 [MQTT-3.1.4-2], 5.0 [MQTT-3.1.4-3]; 5.0 [MQTT-3.2.2-3] Session
// Present on the new connection.
func TestTakeover(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	forRaw(t, func(t *testing.T, v packet.Version) {
		id := uniq("takeover")
		root := topicRoot("takeover")
		first, _ := rawConnect(t, b.addr, v, id, false)
		first.subscribe(1, packet.Subscription{Filter: root, QoS: 1})

		second, ack := rawConnect(t, b.addr, v, id, false)
		if !ack.SessionPresent {
			t.Errorf("taking over a persistent session: Session Present 0")
		}
		d := first.expectClose(waitTime)
		switch {
		case v == packet.V5 && (d == nil || d.ReasonCode != packet.SessionTakenOver):
			t.Errorf("first connection got DISCONNECT %+v, want 0x8E", d)
		case v == packet.V311 && d != nil:
			t.Errorf("3.1.1 connection got a DISCONNECT")
		}
		second.ping()
		pub, _ := rawConnect(t, b.addr, v, uniq("takeover-pub"), true)
		pub.publish(&packet.Publish{Topic: root, QoS: 1, PacketID: 1, Payload: []byte("to the new owner")})
		second.ack(second.expectPublish(root, "to the new owner"))
	})
}

// TestOfflineQueue lets a persistent subscriber go offline while QoS 0, 1
// and 2 messages are published: on its return it gets the QoS 1 and 2 ones
// in order, without subscribing again, and not the QoS 0 one.
//
// 3.1.1 [MQTT-3.1.2-5], 5.0 [MQTT-3.1.2-23] [MQTT-4.5.0-1]: messages for an
// offline session are kept; 5.0 [MQTT-4.6.0-5] [MQTT-4.6.0-6] (3.1.1
// [MQTT-4.6.0-6]) in order; QoS 0 messages are not queued by default (5.0
// section 3.1.2.4 leaves it to the server).
func TestOfflineQueue(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	forVersions(t, func(t *testing.T, level byte) {
		v := packet.Version(level)
		id := uniq("offline")
		root := topicRoot("offline")
		sub, _ := rawConnect(t, b.addr, v, id, false)
		sub.subscribe(1, packet.Subscription{Filter: root + "/#", QoS: 2})
		sub.disconnect(packet.Success)

		pub := connectAs(t, level, b.addr, uniq("offline-pub"), true)
		type m struct {
			topic string
			qos   byte
		}
		sent := []m{{"a", 1}, {"a", 2}, {"a", 0}, {"b", 1}, {"a", 1}, {"b", 2}, {"b", 0}, {"a", 2}}
		for i, s := range sent {
			pub.pub(root+"/"+s.topic, s.qos, false, fmt.Sprint(i))
		}

		sub = dialRaw(t, b.addr, v)
		if ack := sub.mustConnect(connectPacket(v, id, false)); !ack.SessionPresent {
			t.Fatalf("Session Present 0 for the persistent session")
		}
		for i, s := range sent {
			if s.qos == 0 {
				continue
			}
			p := sub.expectPublish(root+"/"+s.topic, fmt.Sprint(i))
			if p.QoS != s.qos {
				t.Errorf("message %d arrived at QoS %d, want %d", i, p.QoS, s.qos)
			}
			sub.ack(p)
		}
		sub.expectNone(quietTime)
	})
}

// TestQueueQoS0Option runs a broker with -queue-qos0: QoS 0 messages for an
// offline persistent session are kept too, each once, in order with those
// of the same QoS. MQTT orders a topic's messages per QoS (5.0 section
// 4.6, "for the same Topic and QoS"): delivery v1 keeps one queue, so
// the QoS 0 and 1 messages come in publish order; v2 keeps QoS 0 in the
// session's queue and QoS 1 in the streams, sent after.
//
// 5.0 section 3.1.2.4 (QoS 0 messages may be stored); [MQTT-4.6.0-5]
// [MQTT-4.6.0-6].
func TestQueueQoS0Option(t *testing.T) {
	t.Parallel()
	b := startBroker(t, withFlags("-queue-qos0", "true"))
	forRaw(t, func(t *testing.T, v packet.Version) {
		id := uniq("q0")
		root := topicRoot("q0")
		sub, _ := rawConnect(t, b.addr, v, id, false)
		sub.subscribe(1, packet.Subscription{Filter: root, QoS: 1})
		sub.disconnect(packet.Success)
		pub, _ := rawConnect(t, b.addr, v, uniq("q0-pub"), true)
		qos := []byte{0, 1, 0, 1, 0}
		for i, q := range qos {
			pub.publish(&packet.Publish{Topic: root, QoS: q, PacketID: uint16(i + 1), Payload: []byte(fmt.Sprint(i))})
		}
		sub, _ = rawConnect(t, b.addr, v, id, false)
		last := map[byte]int{0: -1, 1: -1}
		var got []string
		for range qos {
			p := expect[*packet.Publish](t, sub)
			i, err := strconv.Atoi(string(p.Payload))
			if err != nil || p.Topic != root || i < 0 || i >= len(qos) || p.QoS != qos[i] || i <= last[p.QoS] {
				t.Fatalf("got %q %q at QoS %d after %v: unknown, at another QoS, repeated or out of order", p.Topic, p.Payload, p.QoS, got)
			}
			last[p.QoS] = i
			got = append(got, string(p.Payload))
			sub.ack(p)
		}
		if !underV2() && !slices.Equal(got, []string{"0", "1", "2", "3", "4"}) {
			t.Errorf("delivery v1 sent %v, want the publish order", got)
		}
		sub.expectNone(quietTime)
	})
}

// TestMaxQueued runs a broker with -max-queued 5: an offline session keeps
// five of the messages published to it, in order, and drops the rest:
// delivery v1 the first five (it refuses the newest), v2 the last five
// (it skips the oldest at the reconnect).
//
// 5.0 section 4.1 and 3.1.1 section 4.1 (a server may limit session state);
// the -max-queued setting.
func TestMaxQueued(t *testing.T) {
	t.Parallel()
	b := startBroker(t, withFlags("-max-queued", "5"))
	forRaw(t, func(t *testing.T, v packet.Version) {
		id := uniq("maxq")
		root := topicRoot("maxq")
		sub, _ := rawConnect(t, b.addr, v, id, false)
		sub.subscribe(1, packet.Subscription{Filter: root, QoS: 1})
		sub.disconnect(packet.Success)
		pub, _ := rawConnect(t, b.addr, v, uniq("maxq-pub"), true)
		const sent, kept = 8, 5
		for i := range sent {
			rc := pub.publish(&packet.Publish{Topic: root, QoS: 1, PacketID: uint16(i + 1), Payload: []byte(fmt.Sprint(i))})
			if v == packet.V5 && i >= kept && rc != packet.QuotaExceeded {
				t.Logf("PUBACK for dropped message %d: %s", i, rc)
			}
		}
		sub, _ = rawConnect(t, b.addr, v, id, false)
		first := keptFrom(sent, kept)
		for i := first; i < first+kept; i++ {
			sub.ack(sub.expectPublish(root, fmt.Sprint(i)))
		}
		sub.expectNone(quietTime)
	})
}

// keptFrom returns the first of sent messages an offline session keeps
// under -max-queued kept: 0 under delivery v1, which refuses the newest;
// sent-kept under v2, which skips the oldest (docs/architecture.md,
// "Delivery v2").
func keptFrom(sent, kept int) int {
	if underV2() {
		return sent - kept
	}
	return 0
}

// TestRedeliveryWithDup receives a QoS 1 PUBLISH without acknowledging it
// and reconnects: the broker sends it again with its packet identifier and
// DUP set. A QoS 2 message whose PUBREC was sent is resumed with PUBREL,
// not with the PUBLISH.
//
// 3.1.1 and 5.0 [MQTT-4.4.0-1] resend unacknowledged PUBLISH and PUBREL on
// reconnect; [MQTT-3.3.1-1] DUP on redelivery; 5.0 [MQTT-4.3.3-6] no PUBLISH
// after PUBREL; [MQTT-4.3.2-2] [MQTT-4.3.3-2] DUP 0 the first time.
func TestRedeliveryWithDup(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	forRaw(t, func(t *testing.T, v packet.Version) {
		id := uniq("dup")
		root := topicRoot("dup")
		sub, _ := rawConnect(t, b.addr, v, id, false)
		sub.subscribe(1, packet.Subscription{Filter: root + "/#", QoS: 2})
		pub, _ := rawConnect(t, b.addr, v, uniq("dup-pub"), true)

		pub.publish(&packet.Publish{Topic: root + "/q1", QoS: 1, PacketID: 1, Payload: []byte("one")})
		first := sub.expectPublish(root+"/q1", "one")
		if first.Dup || first.QoS != 1 {
			t.Fatalf("first delivery: QoS %d DUP %v, want QoS 1 without DUP", first.QoS, first.Dup)
		}
		sub.close() // no PUBACK

		sub = dialRaw(t, b.addr, v)
		if ack := sub.mustConnect(connectPacket(v, id, false)); !ack.SessionPresent {
			t.Fatalf("Session Present 0 on reconnect")
		}
		again := sub.expectPublish(root+"/q1", "one")
		if !again.Dup || again.PacketID != first.PacketID || again.QoS != 1 {
			t.Fatalf("redelivery: id %d QoS %d DUP %v, want id %d QoS 1 with DUP", again.PacketID, again.QoS, again.Dup, first.PacketID)
		}
		sub.send(&packet.Puback{PacketID: again.PacketID})

		pub.publish(&packet.Publish{Topic: root + "/q2", QoS: 2, PacketID: 2, Payload: []byte("two")})
		p2 := sub.expectPublish(root+"/q2", "two")
		if p2.Dup || p2.QoS != 2 {
			t.Fatalf("QoS 2 delivery: QoS %d DUP %v", p2.QoS, p2.Dup)
		}
		sub.send(&packet.Pubrec{PacketID: p2.PacketID})
		if rel := expect[*packet.Pubrel](t, sub); rel.PacketID != p2.PacketID {
			t.Fatalf("PUBREL for %d, want %d", rel.PacketID, p2.PacketID)
		}
		sub.close() // no PUBCOMP

		sub = dialRaw(t, b.addr, v)
		sub.mustConnect(connectPacket(v, id, false))
		if rel := expect[*packet.Pubrel](t, sub); rel.PacketID != p2.PacketID {
			t.Fatalf("resumed PUBREL for %d, want %d", rel.PacketID, p2.PacketID)
		}
		sub.send(&packet.Pubcomp{PacketID: p2.PacketID})
		sub.expectNone(quietTime) // q1 was acknowledged, q2 released: nothing more
		sub.disconnect(packet.Success)

		sub = dialRaw(t, b.addr, v)
		sub.mustConnect(connectPacket(v, id, false))
		sub.expectNone(quietTime)
	})
}

// TestSessionExpiry5 checks the 5.0 Session Expiry Interval: a session is
// kept until the interval passes, and ends with its connection when the
// interval is 0 or a DISCONNECT sets it to 0.
//
// [MQTT-3.1.2-23] [MQTT-4.1.0-2]; section 3.14.2.2.2 (Session Expiry
// Interval on DISCONNECT).
func TestSessionExpiry5(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	connect := func(t *testing.T, id string, expiry uint32) (*rawClient, bool) {
		c := dialRaw(t, b.addr, packet.V5)
		p := connectPacket(packet.V5, id, false)
		p.Properties.SessionExpiry = expiry
		ack := c.mustConnect(p)
		return c, ack.SessionPresent
	}
	t.Run("interval", func(t *testing.T) {
		t.Parallel()
		id := uniq("expiry")
		c, _ := connect(t, id, 2)
		c.disconnect(packet.Success)
		c, present := connect(t, id, 2)
		if !present {
			t.Fatalf("Session Present 0 within the expiry interval")
		}
		c.disconnect(packet.Success)
		time.Sleep(2500 * time.Millisecond)
		c, present = connect(t, id, 0)
		if present {
			t.Fatalf("Session Present 1 after the expiry interval")
		}
		c.disconnect(packet.Success)
	})
	t.Run("zero", func(t *testing.T) {
		t.Parallel()
		id := uniq("expiry0")
		c, _ := connect(t, id, 0)
		c.disconnect(packet.Success)
		if c, present := connect(t, id, 60); present {
			t.Fatalf("Session Present 1 after a session with expiry 0")
		} else {
			c.disconnect(packet.Success)
		}
	})
	t.Run("set on DISCONNECT", func(t *testing.T) {
		t.Parallel()
		id := uniq("expirydisc")
		c, _ := connect(t, id, 300)
		d := &packet.Disconnect{}
		d.Properties.SessionExpiry = 0
		d.Properties.Set(packet.PropSessionExpiry)
		c.send(d)
		c.expectClose(waitTime)
		if c, present := connect(t, id, 60); present {
			t.Fatalf("Session Present 1 after DISCONNECT set the expiry to 0")
		} else {
			c.disconnect(packet.Success)
		}
	})
}

// TestMessageExpiry5 publishes messages with Message Expiry Intervals to an
// offline session: the one whose interval passed is not delivered, and the
// others carry the time they have left, less than they were sent with. A
// retained message whose interval passed is not sent on subscribe.
//
// [MQTT-3.3.2-5] [MQTT-3.3.2-6].
func TestMessageExpiry5(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	id := uniq("msgexp")
	root := topicRoot("msgexp")
	sub, _ := rawConnect(t, b.addr, packet.V5, id, false)
	sub.subscribe(1, packet.Subscription{Filter: root + "/q", QoS: 1})
	pub, _ := rawConnect(t, b.addr, packet.V5, uniq("msgexp-pub"), true)

	withExpiry := func(p *packet.Publish, s uint32) *packet.Publish {
		p.Properties.MessageExpiry = s
		p.Properties.Set(packet.PropMessageExpiry)
		return p
	}
	// Online: forwarded at once with the interval, at most as sent.
	pub.publish(withExpiry(&packet.Publish{Topic: root + "/q", QoS: 1, PacketID: 1, Payload: []byte("live")}, 60))
	live := sub.expectPublish(root+"/q", "live")
	if !live.Properties.Has(packet.PropMessageExpiry) || live.Properties.MessageExpiry > 60 || live.Properties.MessageExpiry < 58 {
		t.Errorf("live message: expiry %v %d, want 58 to 60", live.Properties.Has(packet.PropMessageExpiry), live.Properties.MessageExpiry)
	}
	sub.ack(live)
	sub.disconnect(packet.Success)

	pub.publish(withExpiry(&packet.Publish{Topic: root + "/q", QoS: 1, PacketID: 2, Payload: []byte("short")}, 1))
	pub.publish(withExpiry(&packet.Publish{Topic: root + "/q", QoS: 1, PacketID: 3, Payload: []byte("long")}, 60))
	pub.publish(&packet.Publish{Topic: root + "/q", QoS: 1, PacketID: 4, Payload: []byte("forever")})
	pub.publish(withExpiry(&packet.Publish{Topic: root + "/r", QoS: 1, Retain: true, PacketID: 5, Payload: []byte("retained-short")}, 1))
	time.Sleep(2100 * time.Millisecond)

	sub = dialRaw(t, b.addr, packet.V5)
	if ack := sub.mustConnect(connectPacket(packet.V5, id, false)); !ack.SessionPresent {
		t.Fatalf("Session Present 0")
	}
	long := sub.expectPublish(root+"/q", "long")
	if !long.Properties.Has(packet.PropMessageExpiry) || long.Properties.MessageExpiry >= 60 || long.Properties.MessageExpiry < 55 {
		t.Errorf("queued message: expiry %v %d, want 55 to 59 after waiting 2 s", long.Properties.Has(packet.PropMessageExpiry), long.Properties.MessageExpiry)
	}
	sub.ack(long)
	forever := sub.expectPublish(root+"/q", "forever")
	if forever.Properties.Has(packet.PropMessageExpiry) {
		t.Errorf("message sent without expiry arrived with %d", forever.Properties.MessageExpiry)
	}
	sub.ack(forever)
	sub.subscribe(2, packet.Subscription{Filter: root + "/r", QoS: 1})
	sub.expectNone(quietTime)
}

// TestTakeoverPublishesWill5 takes over a 5.0 session whose connection has
// a will with no delay: the old connection's will is published once, since
// its network connection was closed.
//
// [MQTT-3.1.4-3] (the will of the existing connection, section 3.1.4);
// [MQTT-3.1.2-8].
func TestTakeoverPublishesWill5(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	root := topicRoot("takeoverwill")
	w := watcher(t, b.addr, packet.V5, root)
	id := uniq("takeoverwill")
	first := willConnect(t, b.addr, packet.V5, id, &packet.Will{Topic: root, QoS: 1, Payload: []byte("taken over")}, 0, 300)
	second, _ := rawConnect(t, b.addr, packet.V5, id, false)
	if d := first.expectClose(waitTime); d == nil || d.ReasonCode != packet.SessionTakenOver {
		t.Errorf("first connection got DISCONNECT %+v, want 0x8E", d)
	}
	w.ack(w.expectPublish(root, "taken over"))
	second.disconnect(packet.Success)
	w.expectNone(quietTime)
}

// TestUnsubscribe removes one subscription of two: messages stop for it
// and go on for the other; the UNSUBACK answers each filter (5.0: 0x11 for
// one that did not exist).
//
// 3.1.1 [MQTT-3.10.4-1] [MQTT-3.10.4-2] [MQTT-3.10.4-4] [MQTT-3.10.4-5];
// 5.0 [MQTT-3.10.4-1] [MQTT-3.10.4-2] [MQTT-3.10.4-4] [MQTT-3.10.4-5]
// [MQTT-3.11.3-1].
func TestUnsubscribe(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	forRaw(t, func(t *testing.T, v packet.Version) {
		root := topicRoot("unsub")
		c, _ := rawConnect(t, b.addr, v, uniq("unsub"), true)
		c.subscribe(1, packet.Subscription{Filter: root + "/a", QoS: 1}, packet.Subscription{Filter: root + "/b", QoS: 1})
		c.send(&packet.Unsubscribe{PacketID: 2, Filters: []string{root + "/a", root + "/never"}})
		ack := expect[*packet.Unsuback](t, c)
		if ack.PacketID != 2 {
			t.Errorf("UNSUBACK for %d, want 2", ack.PacketID)
		}
		if v == packet.V5 && (len(ack.ReasonCodes) != 2 || ack.ReasonCodes[0] != packet.Success || ack.ReasonCodes[1] != packet.NoSubscriptionExisted) {
			t.Errorf("UNSUBACK reason codes %v, want [0x00 0x11]", ack.ReasonCodes)
		}
		pub, _ := rawConnect(t, b.addr, v, uniq("unsub-pub"), true)
		pub.publish(&packet.Publish{Topic: root + "/a", QoS: 1, PacketID: 1, Payload: []byte("a")})
		pub.publish(&packet.Publish{Topic: root + "/b", QoS: 1, PacketID: 2, Payload: []byte("b")})
		c.ack(c.expectPublish(root+"/b", "b"))
		c.expectNone(quietTime)
	})
}
