package e2e_test

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/mqttless/mqttless/core/packet"
)

// TestTopicAlias5 sets a topic alias from the client and then uses it
// alone; an alias above the broker's Topic Alias Maximum closes the
// connection with 0x94, and aliases do not outlive their connection.
//
// Section 3.3.2.3.4; [MQTT-3.3.2-12] the server accepts aliases from 1 to
// its maximum; [MQTT-3.2.2-17] [MQTT-3.3.2-9] an alias above it is refused
// (DISCONNECT 0x94); [MQTT-3.3.2-7] mappings do not carry over to another
// connection (an unknown alias is a Protocol Error, 0x82).
func TestTopicAlias5(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	root := topicRoot("alias")
	w := watcher(t, b.addr, packet.V5, root+"/#")
	id := uniq("alias")
	c, ack := rawConnect(t, b.addr, packet.V5, id, false)
	max := ack.Properties.TopicAliasMaximum
	if !ack.Properties.Has(packet.PropTopicAliasMaximum) || max == 0 {
		t.Fatalf("CONNACK announces no Topic Alias Maximum")
	}
	withAlias := func(p *packet.Publish, alias uint16) *packet.Publish {
		p.Properties.TopicAlias = alias
		p.Properties.Set(packet.PropTopicAlias)
		return p
	}
	c.publish(withAlias(&packet.Publish{Topic: root + "/one", QoS: 1, PacketID: 1, Payload: []byte("set")}, 1))
	c.publish(withAlias(&packet.Publish{Topic: "", QoS: 1, PacketID: 2, Payload: []byte("used")}, 1))
	c.publish(withAlias(&packet.Publish{Topic: root + "/max", QoS: 0, Payload: []byte("set max")}, max))
	c.publish(withAlias(&packet.Publish{Topic: "", QoS: 0, Payload: []byte("used max")}, max))
	c.publish(withAlias(&packet.Publish{Topic: root + "/two", QoS: 1, PacketID: 3, Payload: []byte("reset")}, 1))
	c.publish(withAlias(&packet.Publish{Topic: "", QoS: 1, PacketID: 4, Payload: []byte("reused")}, 1))
	for _, want := range [][2]string{{"/one", "set"}, {"/one", "used"}, {"/max", "set max"}, {"/max", "used max"}, {"/two", "reset"}, {"/two", "reused"}} {
		p := w.expectPublish(root+want[0], want[1])
		if p.Properties.Has(packet.PropTopicAlias) {
			t.Errorf("the client's alias was forwarded to the subscriber")
		}
		w.ack(p)
	}
	c.send(withAlias(&packet.Publish{Topic: root + "/over", QoS: 0, Payload: []byte("over")}, max+1))
	if d := c.expectClose(waitTime); d == nil || d.ReasonCode != packet.TopicAliasInvalid {
		t.Errorf("alias %d above the maximum %d: got DISCONNECT %+v, want 0x94", max+1, max, d)
	}

	c, _ = rawConnect(t, b.addr, packet.V5, id, false)
	c.send(withAlias(&packet.Publish{Topic: "", QoS: 0, Payload: []byte("stale")}, 1))
	if d := c.expectClose(waitTime); d == nil || d.ReasonCode != packet.ProtocolError {
		t.Errorf("alias of a previous connection: got DISCONNECT %+v, want 0x82", d)
	}
	w.expectNone(quietTime)
}

// TestReceiveMaximum5 connects a subscriber announcing Receive Maximum 2:
// the broker keeps at most two QoS 1 or 2 messages unacknowledged on it and
// sends the next one as each is acknowledged, in order.
//
// [MQTT-3.3.4-9] [MQTT-4.9.0-2]; [MQTT-4.6.0-5] order.
func TestReceiveMaximum5(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	root := topicRoot("recvmax")
	sub := dialRaw(t, b.addr, packet.V5)
	p := connectPacket(packet.V5, uniq("recvmax"), true)
	p.Properties.ReceiveMaximum = 2
	p.Properties.Set(packet.PropReceiveMaximum)
	sub.mustConnect(p)
	sub.subscribe(1, packet.Subscription{Filter: root, QoS: 2})
	pub, _ := rawConnect(t, b.addr, packet.V5, uniq("recvmax-pub"), true)
	for i := range 6 {
		pub.publish(&packet.Publish{Topic: root, QoS: byte(1 + i%2), PacketID: uint16(i + 1), Payload: []byte(fmt.Sprint(i))})
	}
	inflight := []*packet.Publish{sub.expectPublish(root, "0"), sub.expectPublish(root, "1")}
	sub.expectNone(quietTime)
	for next := 2; len(inflight) > 0; {
		m := inflight[0]
		inflight = inflight[1:]
		if m.QoS == 1 {
			sub.send(&packet.Puback{PacketID: m.PacketID})
		} else {
			// The PUBREC does not free the slot; the PUBCOMP does.
			sub.send(&packet.Pubrec{PacketID: m.PacketID})
			sub.expectPubrel(m.PacketID)
			sub.expectNone(quietTime)
			sub.send(&packet.Pubcomp{PacketID: m.PacketID})
		}
		if next < 6 {
			inflight = append(inflight, sub.expectPublish(root, fmt.Sprint(next)))
			next++
			sub.expectNone(quietTime / 3)
		}
	}
	sub.expectNone(quietTime)
}

// TestMaximumPacketSize5 connects a subscriber announcing Maximum Packet
// Size 128: a message that would make a bigger PUBLISH is not sent to it,
// and the ones around it are.
//
// [MQTT-3.1.2-24] [MQTT-3.1.2-25].
func TestMaximumPacketSize5(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	root := topicRoot("maxpkt")
	sub := dialRaw(t, b.addr, packet.V5)
	p := connectPacket(packet.V5, uniq("maxpkt"), true)
	p.Properties.MaximumPacketSize = 128
	p.Properties.Set(packet.PropMaximumPacketSize)
	sub.mustConnect(p)
	sub.subscribe(1, packet.Subscription{Filter: root, QoS: 1})
	pub := connectV5(t, b.addr, v5Connect(uniq("maxpkt-pub"), true))
	pub.pub(root, 1, false, "small")
	pub.pub(root, 1, false, string(bytes.Repeat([]byte("x"), 200)))
	pub.pub(root, 0, false, string(bytes.Repeat([]byte("y"), 200)))
	pub.pub(root, 1, false, "small again")
	sub.ack(sub.expectPublish(root, "small"))
	sub.ack(sub.expectPublish(root, "small again"))
	sub.expectNone(quietTime)
}

// TestNoLocal5 subscribes a client that also publishes, once with No Local
// and once without: its own messages come back only on the second.
//
// [MQTT-3.8.3-3].
func TestNoLocal5(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	root := topicRoot("nolocal")
	c := connectV5(t, b.addr, v5Connect(uniq("nolocal"), true))
	c.subscribe(paho.SubscribeOptions{Topic: root + "/quiet", QoS: 1, NoLocal: true},
		paho.SubscribeOptions{Topic: root + "/echo", QoS: 1})
	other := connectV5(t, b.addr, v5Connect(uniq("nolocal-other"), true))
	other.subscribe(paho.SubscribeOptions{Topic: root + "/+", QoS: 1})

	c.pub(root+"/quiet", 1, false, "mine")
	c.pub(root+"/echo", 1, false, "mine too")
	c.expectMsg(root+"/echo", "mine too")
	c.expectNone(quietTime)
	other.expectMsg(root+"/quiet", "mine")
	other.expectMsg(root+"/echo", "mine too")
	other.pub(root+"/quiet", 1, false, "theirs")
	c.expectMsg(root+"/quiet", "theirs")
}

// TestSubscriptionIdentifier5 subscribes with a subscription identifier:
// messages matching it, retained ones included, carry it; subscribing again
// to the filter without one replaces the subscription and the identifier.
//
// [MQTT-3.3.4-3]; [MQTT-3.8.4-3] a repeated filter replaces the
// subscription; section 3.8.2.1.2.
func TestSubscriptionIdentifier5(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	root := topicRoot("subid")
	pub, _ := rawConnect(t, b.addr, packet.V5, uniq("subid-pub"), true)
	pub.publish(&packet.Publish{Topic: root + "/r", QoS: 1, PacketID: 1, Retain: true, Payload: []byte("retained")})
	t.Cleanup(func() { pub.publish(&packet.Publish{Topic: root + "/r", Retain: true}) })

	sub, _ := rawConnect(t, b.addr, packet.V5, uniq("subid"), true)
	sub.subscribeID(1, 268435455, packet.Subscription{Filter: root + "/+", QoS: 1})
	m := sub.expectPublish(root+"/r", "retained")
	if !slices.Equal(m.Properties.SubscriptionIDs, []uint32{268435455}) {
		t.Errorf("retained message carries subscription ids %v, want [268435455]", m.Properties.SubscriptionIDs)
	}
	sub.ack(m)
	pub.publish(&packet.Publish{Topic: root + "/live", QoS: 1, PacketID: 2, Payload: []byte("live")})
	m = sub.expectPublish(root+"/live", "live")
	if !slices.Equal(m.Properties.SubscriptionIDs, []uint32{268435455}) {
		t.Errorf("live message carries subscription ids %v, want [268435455]", m.Properties.SubscriptionIDs)
	}
	sub.ack(m)

	sub.subscribe(2, packet.Subscription{Filter: root + "/+", QoS: 1, RetainHandling: 2})
	pub.publish(&packet.Publish{Topic: root + "/live", QoS: 1, PacketID: 3, Payload: []byte("after")})
	m = sub.expectPublish(root+"/live", "after")
	if len(m.Properties.SubscriptionIDs) != 0 {
		t.Errorf("after resubscribing without an identifier the message carries %v", m.Properties.SubscriptionIDs)
	}
	sub.ack(m)
	sub.expectNone(quietTime)
}

// TestSharedSubscriptions5 publishes 100 messages to a topic with a shared
// subscription of two members, a shared group of one and an ordinary
// subscriber: each message reaches exactly one member of the two, both
// members get some, and the single member and the ordinary subscriber get
// all of them.
//
// Section 4.8.2 (each message of a group goes to one member; groups and
// ordinary subscriptions each get a copy); [MQTT-4.8.2-3] each member at
// its granted QoS.
func TestSharedSubscriptions5(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	root := topicRoot("shared")
	const n = 100
	members := []*v5Client{
		connectV5(t, b.addr, v5Connect(uniq("share-a"), true)),
		connectV5(t, b.addr, v5Connect(uniq("share-b"), true)),
	}
	for _, m := range members {
		m.subscribe(paho.SubscribeOptions{Topic: "$share/g/" + root, QoS: 1})
	}
	solo := connectV5(t, b.addr, v5Connect(uniq("share-solo"), true))
	solo.subscribe(paho.SubscribeOptions{Topic: "$share/solo/" + root, QoS: 0})
	plain := connectV5(t, b.addr, v5Connect(uniq("share-plain"), true))
	plain.subscribe(paho.SubscribeOptions{Topic: root, QoS: 1})

	pub := connectV5(t, b.addr, v5Connect(uniq("share-pub"), true))
	for i := range n {
		pub.pub(root, 1, false, fmt.Sprint(i))
	}
	for name, c := range map[string]*v5Client{"ordinary subscriber": plain, "single member group": solo} {
		got := c.msgs.take(n, waitTime)
		if len(got) != n {
			t.Errorf("%s got %d messages, want %d", name, len(got), n)
		}
		for _, m := range got {
			if name == "single member group" && m.QoS != 0 {
				t.Errorf("%s got a message at QoS %d, want its granted QoS 0", name, m.QoS)
				break
			}
		}
	}
	seen := map[string]int{}
	counts := make([]int, len(members))
	total := 0
	for deadline := time.Now().Add(waitTime); total < n && time.Now().Before(deadline); {
		for i, m := range members {
			for {
				p, ok := m.msgs.next(0)
				if !ok {
					break
				}
				seen[string(p.Payload)]++
				counts[i]++
				total++
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, m := range members {
		m.expectNone(quietTime)
	}
	if total != n || len(seen) != n {
		t.Errorf("the group got %d messages, %d distinct, want each of %d once", total, len(seen), n)
	}
	for p, k := range seen {
		if k != 1 {
			t.Errorf("message %s reached the group %d times", p, k)
		}
	}
	for i, k := range counts {
		if k == 0 {
			t.Errorf("member %d got none of %d messages: %v", i, n, counts)
		}
	}
	t.Logf("shared subscription split %d messages as %v", n, counts)
}

// TestRequestResponse5 sends a request carrying a response topic,
// correlation data, content type, payload format indicator and user
// properties (one key twice): the responder gets them unaltered, user
// properties in order, and its response reaches the requester.
//
// [MQTT-3.3.2-4] [MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-17]
// [MQTT-3.3.2-18] [MQTT-3.3.2-20]; section 4.10 (request / response).
func TestRequestResponse5(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	root := topicRoot("reqresp")
	responder := connectV5(t, b.addr, v5Connect(uniq("responder"), true))
	responder.subscribe(paho.SubscribeOptions{Topic: root + "/req", QoS: 1})
	requester := connectV5(t, b.addr, v5Connect(uniq("requester"), true))
	requester.subscribe(paho.SubscribeOptions{Topic: root + "/resp", QoS: 1})

	pfi := byte(1)
	users := paho.UserProperties{{Key: "b", Value: "1"}, {Key: "a", Value: "2"}, {Key: "b", Value: "3"}}
	requester.publish(&paho.Publish{Topic: root + "/req", QoS: 1, Payload: []byte("ping?"),
		Properties: &paho.PublishProperties{ResponseTopic: root + "/resp", CorrelationData: []byte{0, 1, 2, 0xff},
			ContentType: "text/plain", PayloadFormat: &pfi, User: users}})
	req := responder.expectMsg(root+"/req", "ping?")
	pr := req.Properties
	switch {
	case pr == nil:
		t.Fatalf("the request arrived without properties")
	case pr.ResponseTopic != root+"/resp":
		t.Errorf("response topic %q", pr.ResponseTopic)
	case !bytes.Equal(pr.CorrelationData, []byte{0, 1, 2, 0xff}):
		t.Errorf("correlation data % x", pr.CorrelationData)
	case pr.ContentType != "text/plain":
		t.Errorf("content type %q", pr.ContentType)
	case pr.PayloadFormat == nil || *pr.PayloadFormat != 1:
		t.Errorf("payload format indicator %v", pr.PayloadFormat)
	case !slices.Equal(pr.User, users):
		t.Errorf("user properties %v, want %v in that order", pr.User, users)
	}
	responder.publish(&paho.Publish{Topic: pr.ResponseTopic, QoS: 1, Payload: []byte("pong"),
		Properties: &paho.PublishProperties{CorrelationData: pr.CorrelationData}})
	resp := requester.expectMsg(root+"/resp", "pong")
	if resp.Properties == nil || !bytes.Equal(resp.Properties.CorrelationData, []byte{0, 1, 2, 0xff}) {
		t.Errorf("the response lost its correlation data")
	}
}

// TestPayloadFormatInvalid5 publishes, with Payload Format Indicator 1, a
// payload that is not UTF-8: QoS 1 gets PUBACK 0x99 and QoS 2 PUBREC 0x99,
// the message goes nowhere, and the connection stays open. With Request
// Problem Information 0 the acknowledgements carry no reason string. A will
// with the same fault refuses the CONNECT with 0x99.
//
// Section 3.3.2.3.2 (PUBACK / PUBREC 0x99); [MQTT-3.1.2-29]; section
// 3.1.3.2.3 and 3.2.2.2 (CONNACK 0x99).
func TestPayloadFormatInvalid5(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	root := topicRoot("pfi")
	w := watcher(t, b.addr, packet.V5, root)
	c := dialRaw(t, b.addr, packet.V5)
	p := connectPacket(packet.V5, uniq("pfi"), true)
	p.Properties.RequestProblemInfo = 0
	p.Properties.Set(packet.PropRequestProblemInfo)
	c.mustConnect(p)
	bad := []byte{'o', 'k', 0xff, 0xfe}
	withPFI := func(p *packet.Publish) *packet.Publish {
		p.Properties.PayloadFormat = 1
		p.Properties.Set(packet.PropPayloadFormat)
		return p
	}
	c.send(withPFI(&packet.Publish{Topic: root, QoS: 1, PacketID: 1, Payload: bad}))
	ack := expect[*packet.Puback](t, c)
	if ack.ReasonCode != packet.PayloadFormatInvalid {
		t.Errorf("PUBACK %s, want 0x99", ack.ReasonCode)
	}
	if ack.Properties.ReasonString != "" || len(ack.Properties.User) > 0 {
		t.Errorf("PUBACK carries a reason string or user properties after Request Problem Information 0")
	}
	c.send(withPFI(&packet.Publish{Topic: root, QoS: 2, PacketID: 2, Payload: bad}))
	if rec := expect[*packet.Pubrec](t, c); rec.ReasonCode != packet.PayloadFormatInvalid {
		t.Errorf("PUBREC %s, want 0x99", rec.ReasonCode)
	}
	c.ping()
	c.publish(withPFI(&packet.Publish{Topic: root, QoS: 1, PacketID: 3, Payload: []byte("fine ✓")}))
	m := w.expectPublish(root, "fine ✓")
	if m.Properties.PayloadFormat != 1 || !m.Properties.Has(packet.PropPayloadFormat) {
		t.Errorf("payload format indicator not forwarded")
	}
	w.ack(m)
	w.expectNone(quietTime)

	c = dialRaw(t, b.addr, packet.V5)
	p = connectPacket(packet.V5, uniq("pfiwill"), true)
	p.Will = &packet.Will{Topic: root, Payload: bad}
	p.Will.Properties.PayloadFormat = 1
	p.Will.Properties.Set(packet.PropPayloadFormat)
	if ack := c.connect(p); ack.ReasonCode != packet.PayloadFormatInvalid {
		t.Errorf("CONNACK %s for a will that is not UTF-8, want 0x99", ack.ReasonCode)
	}
	c.expectClose(waitTime)
}

// TestServerReceiveMaximum5 runs a broker with -receive-max 2: it announces
// Receive Maximum 2, and a client with more than two QoS 2 PUBLISH packets
// unreleased is disconnected with 0x93.
//
// [MQTT-3.3.4-7] (the client obligation the broker enforces), section
// 3.2.2.3.3 (Receive Maximum in CONNACK), [MQTT-4.13.1-1].
func TestServerReceiveMaximum5(t *testing.T) {
	t.Parallel()
	b := startBroker(t, withFlags("-receive-max", "2"))
	c, ack := rawConnect(t, b.addr, packet.V5, uniq("srvmax"), true)
	if !ack.Properties.Has(packet.PropReceiveMaximum) || ack.Properties.ReceiveMaximum != 2 {
		t.Fatalf("CONNACK Receive Maximum %d, want 2", ack.Properties.ReceiveMaximum)
	}
	root := topicRoot("srvmax")
	for id := uint16(1); id <= 2; id++ {
		c.send(&packet.Publish{Topic: root, QoS: 2, PacketID: id, Payload: []byte("held")})
		expect[*packet.Pubrec](t, c)
	}
	// Releasing one makes room for another.
	c.send(&packet.Pubrel{PacketID: 1})
	expect[*packet.Pubcomp](t, c)
	c.send(&packet.Publish{Topic: root, QoS: 2, PacketID: 3, Payload: []byte("held")})
	expect[*packet.Pubrec](t, c)
	c.send(&packet.Publish{Topic: root, QoS: 2, PacketID: 4, Payload: []byte("one too many")})
	if d := c.expectClose(waitTime); d == nil || d.ReasonCode != packet.ReceiveMaximumExceeded {
		t.Errorf("third unreleased QoS 2 PUBLISH: got DISCONNECT %+v, want 0x93", d)
	}
}
