package e2e_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
)

// TestWildcards checks '+' and '#' matching and that a message reaches only
// the subscriptions whose filters match its topic.
//
// [MQTT-3.3.2-3] the topic of a PUBLISH sent to a subscriber matches its
// filter; sections 4.7.1.2 and 4.7.1.3 (multi- and single-level wildcards,
// '#' also matching the parent level).
func TestWildcards(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	forVersions(t, func(t *testing.T, level byte) {
		root := topicRoot("wild")
		filters := []string{root + "/+/c", root + "/#", root + "/a/+", root + "/+/+/d"}
		subs := make([]testClient, len(filters))
		for i, f := range filters {
			subs[i] = connectAs(t, level, b.addr, uniq("wsub"), true)
			subs[i].sub(f, 1)
		}
		pub := connectAs(t, level, b.addr, uniq("wpub"), true)
		topics := []string{root + "/a/c", root + "/b/c", root + "/a/c/d", root, root + "/a/b"}
		for _, tp := range topics {
			pub.pub(tp, 1, false, "to "+tp)
		}
		want := [][]string{
			{root + "/a/c", root + "/b/c"},
			topics,
			{root + "/a/c", root + "/a/b"},
			{root + "/a/c/d"},
		}
		for i, c := range subs {
			got := recvN(t, c, len(want[i]))
			for j, m := range got {
				if m.Topic != want[i][j] || m.Payload != "to "+want[i][j] {
					t.Errorf("filter %q: message %d is %q %q, want %q", filters[i], j, m.Topic, m.Payload, want[i][j])
				}
			}
			expectNoMsg(t, c, quietTime)
		}
	})
}

// TestInvalidFilters checks that a SUBSCRIBE with a malformed filter gets a
// failure code for that filter alone.
//
// 3.1.1 [MQTT-4.7.1-2] [MQTT-4.7.1-3], 5.0 [MQTT-4.7.1-1] [MQTT-4.7.1-2]:
// '#' last and alone in its level, '+' alone in its level; 3.1.1
// [MQTT-3.9.3-2] return code 0x80, 5.0 [MQTT-3.8.4-7] [MQTT-3.9.3-1] a
// reason code per filter in order.
func TestInvalidFilters(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		t.Run(v.String(), func(t *testing.T) {
			t.Parallel()
			c, _ := rawConnect(t, b.addr, v, uniq("badfilter"), true)
			root := topicRoot("badfilter")
			c.send(&packet.Subscribe{PacketID: 3, Subscriptions: []packet.Subscription{
				{Filter: root + "/#/x", QoS: 1}, {Filter: root + "/ok", QoS: 1}, {Filter: root + "/a+", QoS: 0},
			}})
			ack := expect[*packet.Suback](t, c)
			fail := packet.TopicFilterInvalid
			if v == packet.V311 {
				fail = packet.UnspecifiedError // 0x80, the only 3.1.1 failure code
			}
			want := []packet.ReasonCode{fail, packet.GrantedQoS1, fail}
			if ack.PacketID != 3 || !slices.Equal(ack.ReasonCodes, want) {
				t.Fatalf("SUBACK %d %v, want 3 %v", ack.PacketID, ack.ReasonCodes, want)
			}
			c.ping() // the connection stays open
		})
	}
}

// TestDollarTopics checks that filters starting with a wildcard do not
// match topic names starting with '$', while filters naming the '$' level
// do.
//
// [MQTT-4.7.2-1] (3.1.1 and 5.0).
func TestDollarTopics(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	forVersions(t, func(t *testing.T, level byte) {
		name := fmt.Sprintf("dollar%s%d", runID, seq.Add(1))
		dollar := "$" + name + "/x" // a topic of two levels, the first starting with '$'
		plain := name + "/x"
		hash := connectAs(t, level, b.addr, uniq("dhash"), true)
		hash.sub("#", 0)
		plus := connectAs(t, level, b.addr, uniq("dplus"), true)
		plus.sub("+/x", 0)
		explicit := connectAs(t, level, b.addr, uniq("dexpl"), true)
		explicit.sub("$"+name+"/+", 0)
		explicitHash := connectAs(t, level, b.addr, uniq("dexplh"), true)
		explicitHash.sub("$"+name+"/#", 0)

		pub := connectAs(t, level, b.addr, uniq("dpub"), true)
		pub.pub(dollar, 1, false, "dollar")
		pub.pub(plain, 1, false, "plain")

		expectMsg(t, explicit, dollar, "dollar")
		expectMsg(t, explicitHash, dollar, "dollar")
		// '#' and '+/x' see the traffic of the other tests too: look at
		// everything until the plain message, and a while after it.
		for _, c := range []struct {
			name string
			tc   testClient
		}{{"#", hash}, {"+/x", plus}} {
			sawPlain := false
			deadline := time.Now().Add(waitTime)
			for {
				wait := time.Until(deadline)
				if sawPlain {
					wait = quietTime
				}
				m, ok := c.tc.recv(wait)
				if !ok {
					break
				}
				if m.Topic == dollar {
					t.Errorf("filter %q matched the $-topic %q", c.name, dollar)
				}
				if m.Topic == plain {
					sawPlain = true
					deadline = time.Now().Add(quietTime)
				}
			}
			if !sawPlain {
				t.Errorf("filter %q did not get %q", c.name, plain)
			}
		}
	})
}

// TestQoSLevels publishes at QoS 0, 1 and 2 to subscriptions granted QoS
// 0, 1 and 2: each message arrives once, at the lower of the two, and both
// sides complete their exchanges (Paho checks the acknowledgements).
//
// [MQTT-3.3.4-1] a PUBLISH gets the response its QoS calls for; 5.0
// [MQTT-3.8.4-8], 3.1.1 [MQTT-3.8.4-6] delivered QoS is the minimum of the
// published and granted QoS; [MQTT-4.3.1-1] [MQTT-4.3.2-1] [MQTT-4.3.3-1]
// the QoS flows.
func TestQoSLevels(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	forVersions(t, func(t *testing.T, level byte) {
		root := topicRoot("qos")
		sub := connectAs(t, level, b.addr, uniq("qsub"), true)
		for s := byte(0); s <= 2; s++ {
			sub.sub(fmt.Sprintf("%s/s%d/+", root, s), s)
		}
		pub := connectAs(t, level, b.addr, uniq("qpub"), true)
		want := map[string]byte{}
		for s := byte(0); s <= 2; s++ {
			for p := byte(0); p <= 2; p++ {
				tp := fmt.Sprintf("%s/s%d/p%d", root, s, p)
				pub.pub(tp, p, false, tp)
				want[tp] = min(s, p)
			}
		}
		for _, m := range recvN(t, sub, len(want)) {
			q, ok := want[m.Topic]
			if !ok {
				t.Errorf("unexpected or repeated message %q", m.Topic)
				continue
			}
			delete(want, m.Topic)
			if m.QoS != q || m.Payload != m.Topic {
				t.Errorf("%q arrived at QoS %d with payload %q, want QoS %d", m.Topic, m.QoS, m.Payload, q)
			}
		}
		expectNoMsg(t, sub, quietTime)
	})
}

// TestQoS2ExactlyOnce sends a QoS 2 PUBLISH twice under one packet
// identifier before releasing it: the subscriber gets one copy. Once the
// exchange is complete the identifier names a new message.
//
// 5.0 [MQTT-4.3.3-10] (3.1.1 [MQTT-4.3.3-2]) a repeated PUBLISH before PUBREL
// is acknowledged with PUBREC again and not delivered again; 5.0
// [MQTT-4.3.3-11] PUBREL gets PUBCOMP; [MQTT-4.3.3-12] after PUBCOMP the
// identifier is a new message; [MQTT-4.3.2-5] so is a QoS 1 identifier
// after PUBACK.
func TestQoS2ExactlyOnce(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		t.Run(v.String(), func(t *testing.T) {
			t.Parallel()
			root := topicRoot("once")
			sub, _ := rawConnect(t, b.addr, v, uniq("osub"), true)
			sub.subscribe(1, packet.Subscription{Filter: root, QoS: 2})
			pub, _ := rawConnect(t, b.addr, v, uniq("opub"), true)

			p := &packet.Publish{Topic: root, QoS: 2, PacketID: 7, Payload: []byte("once")}
			pub.send(p)
			if rec := expect[*packet.Pubrec](t, pub); rec.PacketID != 7 || rec.ReasonCode.IsError() {
				t.Fatalf("PUBREC %+v", rec)
			}
			dup := *p
			dup.Dup = true
			pub.send(&dup)
			if rec := expect[*packet.Pubrec](t, pub); rec.PacketID != 7 || rec.ReasonCode.IsError() {
				t.Fatalf("PUBREC for the repeat %+v", rec)
			}
			pub.send(&packet.Pubrel{PacketID: 7})
			if comp := expect[*packet.Pubcomp](t, pub); comp.PacketID != 7 || comp.ReasonCode != packet.Success {
				t.Fatalf("PUBCOMP %+v", comp)
			}
			got := sub.expectPublish(root, "once")
			if got.QoS != 2 || got.Dup {
				t.Errorf("delivered at QoS %d dup %v, want QoS 2 without DUP", got.QoS, got.Dup)
			}
			sub.ack(got)
			sub.expectNone(quietTime)

			// The completed identifier now names a new message.
			pub.publish(&packet.Publish{Topic: root, QoS: 2, PacketID: 7, Payload: []byte("again")})
			sub.ack(sub.expectPublish(root, "again"))
			// A QoS 1 identifier is free again once acknowledged.
			for _, payload := range []string{"q1-a", "q1-b"} {
				pub.publish(&packet.Publish{Topic: root, QoS: 1, PacketID: 9, Payload: []byte(payload)})
				sub.ack(sub.expectPublish(root, payload))
			}
			sub.expectNone(quietTime)
		})
	}
}

// TestOverlappingSubscriptions311 subscribes one client with several
// filters that match one topic. The server must deliver the message at the
// highest QoS of the matching subscriptions, and may deliver further
// copies, one for each further matching subscription at its QoS: delivery
// v1 sends one copy, v2 one per subscription (README, "Delivery v2").
//
// 3.1.1 [MQTT-3.3.5-1]; 5.0 [MQTT-3.3.4-2].
func TestOverlappingSubscriptions311(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	root := topicRoot("overlap3")
	sub, _ := rawConnect(t, b.addr, packet.V311, uniq("ov3"), true)
	sub.subscribe(1, packet.Subscription{Filter: root + "/+", QoS: 1})
	sub.subscribe(2, packet.Subscription{Filter: root + "/#", QoS: 2})
	sub.subscribe(3, packet.Subscription{Filter: root + "/x", QoS: 0})
	pub, _ := rawConnect(t, b.addr, packet.V311, uniq("ov3pub"), true)
	pub.publish(&packet.Publish{Topic: root + "/x", QoS: 2, PacketID: 1, Payload: []byte("two")})
	checkOverlapCopies(t, overlapCopies(sub, root+"/x", "two"), 3, 2)
	pub.publish(&packet.Publish{Topic: root + "/x", QoS: 1, PacketID: 2, Payload: []byte("one")})
	checkOverlapCopies(t, overlapCopies(sub, root+"/x", "one"), 3, 1)
}

// TestOverlappingSubscriptions5 subscribes one 5.0 client with overlapping
// filters, two with subscription identifiers. One copy must come at the
// highest QoS; a single copy carries the identifiers of every matching
// subscription, in any order; further copies, one per further matching
// subscription, each carry their subscription's identifier (v2 sends
// them, v1 one copy).
//
// [MQTT-3.3.4-2] highest QoS; [MQTT-3.3.4-3] [MQTT-3.3.4-4] one copy carries
// every matching subscription identifier, in any order; [MQTT-3.3.4-5]
// each of several copies carries its subscription's.
func TestOverlappingSubscriptions5(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	root := topicRoot("overlap5")
	sub, _ := rawConnect(t, b.addr, packet.V5, uniq("ov5"), true)
	sub.subscribeID(1, 11, packet.Subscription{Filter: root + "/+", QoS: 1})
	sub.subscribeID(2, 22, packet.Subscription{Filter: root + "/#", QoS: 2})
	sub.subscribe(3, packet.Subscription{Filter: root + "/x", QoS: 0})
	pub, _ := rawConnect(t, b.addr, packet.V5, uniq("ov5pub"), true)

	pub.publish(&packet.Publish{Topic: root + "/x", QoS: 2, PacketID: 1, Payload: []byte("all")})
	copies := overlapCopies(sub, root+"/x", "all")
	checkOverlapCopies(t, copies, 3, 2)
	var ids []uint32
	for _, m := range copies {
		if len(copies) > 1 && len(m.Properties.SubscriptionIDs) > 1 {
			t.Errorf("one of %d copies carries subscription ids %v, want its own subscription's only", len(copies), m.Properties.SubscriptionIDs)
		}
		ids = append(ids, m.Properties.SubscriptionIDs...)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []uint32{11, 22}) {
		t.Errorf("the copies carry subscription ids %v, want 11 and 22, each once", ids)
	}

	pub.publish(&packet.Publish{Topic: root + "/y/z", QoS: 1, PacketID: 2, Payload: []byte("deep")})
	m := sub.expectPublish(root+"/y/z", "deep")
	if m.QoS != 1 || !slices.Equal(m.Properties.SubscriptionIDs, []uint32{22}) {
		t.Errorf("delivered at QoS %d with subscription ids %v, want QoS 1 with [22]", m.QoS, m.Properties.SubscriptionIDs)
	}
	sub.ack(m)
	sub.expectNone(quietTime)
}

// overlapCopies returns the copies of one message sub receives until it
// is quiet for quietTime, each acknowledged.
func overlapCopies(sub *rawClient, topic, payload string) []*packet.Publish {
	sub.t.Helper()
	copies := []*packet.Publish{sub.expectPublish(topic, payload)}
	sub.ack(copies[0])
	for {
		p, err := sub.next(quietTime)
		if err != nil {
			return copies
		}
		m, ok := p.(*packet.Publish)
		if !ok || m.Topic != topic || string(m.Payload) != payload {
			sub.t.Fatalf("got %s %+v, want a copy of %q %q or nothing", p.Type(), p, topic, payload)
		}
		copies = append(copies, m)
		sub.ack(m)
	}
}

// checkOverlapCopies checks copies of a message matching subs
// subscriptions: at least one, at most one per subscription, the highest
// at QoS top, none above it [MQTT-3.3.5-1] [MQTT-3.3.4-2].
func checkOverlapCopies(t *testing.T, copies []*packet.Publish, subs int, top byte) {
	t.Helper()
	highest := byte(0)
	for _, m := range copies {
		highest = max(highest, m.QoS)
	}
	if len(copies) > subs || highest != top {
		t.Errorf("%d copies, the highest at QoS %d; want 1 to %d, the highest at QoS %d", len(copies), highest, subs, top)
	}
}
