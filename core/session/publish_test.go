package session_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
)

// Messages go to every matching subscription, addressed to the proxy and
// connection that hold the subscriber (sections 3.3.4 and 4.7).
func TestPublishFanOut(t *testing.T) {
	for _, v := range versions() {
		t.Run(v.String(), func(t *testing.T) {
			e := newEnv(t, session.Config{})
			s1, _, _ := e.connectOn("proxy-A", v, "s1")
			s1.sub(sub("a/+", 0))
			s2, _, _ := e.connectOn("proxy-B", v5, "s2")
			s2.sub(sub("a/b", 0))
			s3, _, _ := e.connectOn("proxy-B", v, "s3")
			s3.sub(sub("x/#", 0))
			s4, _, _ := e.connectOn("proxy-A", v, "s4")
			s4.sub(sub("#", 0))
			pub, _, _ := e.connectOn("proxy-C", v, "pub")
			r := pub.send(publish(v, "a/b", "hello"))
			if len(r.Packets) != 0 {
				t.Errorf("QoS 0 PUBLISH answered with %s", describeAll(pub.out(r)))
			}
			for _, s := range []*conn{s1, s2, s4} {
				p := one[*packet.Publish](t, s.recv(r))
				if p.Topic != "a/b" || string(p.Payload) != "hello" || p.QoS != 0 || p.Retain || p.Dup {
					t.Errorf("%s got %s", s.id, describe(p))
				}
			}
			if ps := s3.recv(r); len(ps) != 0 {
				t.Errorf("non-matching subscriber got %s", describeAll(ps))
			}
			if len(r.Deliveries) != 3 {
				t.Errorf("%d deliveries, want 3", len(r.Deliveries))
			}
			// [MQTT-4.7.2-1]: wildcards at the start do not match "$" topics.
			r = pub.send(publish(v, "$SYS/x", "sys"))
			if len(r.Deliveries) != 0 {
				t.Errorf("$SYS/x delivered to a '#' subscription [MQTT-4.7.2-1]")
			}
		})
	}
}

// Each case publishes one message and checks what the publisher and one
// subscriber get.
func TestPublish(t *testing.T) {
	type sender = func(v packet.Version) []byte
	cases := []struct {
		name    string
		spec    string
		v       packet.Version
		cfg     session.Config
		subs    []packet.Packet // SUBSCRIBEs of the subscriber, as frames
		subV    packet.Version  // the subscriber's version, v when 0
		pub     sender
		wantAck packet.Packet // what the publisher gets; nil for nothing
		close   packet.ReasonCode
		check   func(t *testing.T, got []packet.Packet) // what the subscriber gets
	}{
		// [MQTT-3.8.4-8]: the delivered QoS is the lower of the message's
		// and the subscription's.
		{name: "QoS 2 downgraded to subscription QoS 1", spec: "[MQTT-3.8.4-8]", v: v5,
			subs: subs(sub("t", 1)), pub: func(v packet.Version) []byte { return publish(v, "t", "m", qos(2, 7)) },
			wantAck: &packet.Pubrec{PacketID: 7},
			check: func(t *testing.T, got []packet.Packet) {
				if p := one[*packet.Publish](t, got); p.QoS != 1 || p.PacketID == 0 {
					t.Errorf("got %s, want QoS 1", describe(p))
				}
			}},
		{name: "QoS 1 downgraded to subscription QoS 0", spec: "[MQTT-3.8.4-8]", v: v311,
			subs: subs(sub("t", 0)), pub: func(v packet.Version) []byte { return publish(v, "t", "m", qos(1, 7)) },
			wantAck: &packet.Puback{PacketID: 7},
			check: func(t *testing.T, got []packet.Packet) {
				if p := one[*packet.Publish](t, got); p.QoS != 0 {
					t.Errorf("got %s, want QoS 0", describe(p))
				}
			}},
		{name: "QoS 0 not upgraded", spec: "[MQTT-3.8.4-8]", v: v5,
			subs: subs(sub("t", 2)), pub: func(v packet.Version) []byte { return publish(v, "t", "m") },
			check: func(t *testing.T, got []packet.Packet) {
				if p := one[*packet.Publish](t, got); p.QoS != 0 {
					t.Errorf("got %s, want QoS 0", describe(p))
				}
			}},
		// [MQTT-3.3.1-12]: the retain flag is cleared when forwarding...
		{name: "retain flag cleared", spec: "[MQTT-3.3.1-12]", v: v5,
			subs: subs(sub("t", 0)), pub: func(v packet.Version) []byte { return publish(v, "t", "m", retained()) },
			check: func(t *testing.T, got []packet.Packet) {
				if p := one[*packet.Publish](t, got); p.Retain {
					t.Errorf("retain flag set")
				}
			}},
		{name: "3.1.1 retain flag cleared", spec: "[MQTT-3.3.1-9] (3.1.1)", v: v311,
			subs: subs(sub("t", 0)), pub: func(v packet.Version) []byte { return publish(v, "t", "m", retained()) },
			check: func(t *testing.T, got []packet.Packet) {
				if p := one[*packet.Publish](t, got); p.Retain {
					t.Errorf("retain flag set")
				}
			}},
		// ...unless the subscription has Retain As Published [MQTT-3.3.1-13].
		{name: "retain as published", spec: "[MQTT-3.3.1-13]", v: v5,
			subs: subs(sub("t", 0, rap)), pub: func(v packet.Version) []byte { return publish(v, "t", "m", retained()) },
			check: func(t *testing.T, got []packet.Packet) {
				if p := one[*packet.Publish](t, got); !p.Retain {
					t.Errorf("retain flag cleared")
				}
			}},
		{name: "retain as published, not retained", spec: "[MQTT-3.3.1-13]", v: v5,
			subs: subs(sub("t", 0, rap)), pub: func(v packet.Version) []byte { return publish(v, "t", "m") },
			check: func(t *testing.T, got []packet.Packet) {
				if p := one[*packet.Publish](t, got); p.Retain {
					t.Errorf("retain flag set")
				}
			}},
		// Section 3.4.2.1: 0x10 when no subscription matched.
		{name: "PUBACK 0x10 without subscribers", spec: "3.4.2.1 [MQTT-3.4.2-1]", v: v5,
			subs: subs(sub("other", 1)), pub: func(v packet.Version) []byte { return publish(v, "t", "m", qos(1, 3)) },
			wantAck: &packet.Puback{PacketID: 3, ReasonCode: packet.NoMatchingSubscribers}},
		{name: "PUBREC 0x10 without subscribers", spec: "3.5.2.1 [MQTT-3.5.2-1]", v: v5,
			subs: subs(sub("other", 1)), pub: func(v packet.Version) []byte { return publish(v, "t", "m", qos(2, 3)) },
			wantAck: &packet.Pubrec{PacketID: 3, ReasonCode: packet.NoMatchingSubscribers}},
		{name: "PUBACK with subscribers", spec: "[MQTT-4.3.2-4]", v: v5,
			subs: subs(sub("t", 1)), pub: func(v packet.Version) []byte { return publish(v, "t", "m", qos(1, 3)) },
			wantAck: &packet.Puback{PacketID: 3},
			check: func(t *testing.T, got []packet.Packet) {
				if p := one[*packet.Publish](t, got); p.QoS != 1 || p.Dup {
					t.Errorf("got %s [MQTT-4.3.2-2]", describe(p))
				}
			}},
		{name: "3.1.1 PUBACK without subscribers", spec: "[MQTT-4.3.2-4]", v: v311,
			subs: subs(sub("other", 1)), pub: func(v packet.Version) []byte { return publish(v, "t", "m", qos(1, 3)) },
			wantAck: &packet.Puback{PacketID: 3}},
		// Section 3.3.2.3.2: a payload that is not UTF-8 under Payload Format
		// Indicator 1 gets 0x99, or DISCONNECT 0x99 at QoS 0.
		{name: "payload format invalid QoS 1", spec: "3.3.2.3.2", v: v5,
			subs: subs(sub("t", 1)), pub: func(v packet.Version) []byte { return publish(v, "t", "\xff", qos(1, 4), pfi(1)) },
			wantAck: &packet.Puback{PacketID: 4, ReasonCode: packet.PayloadFormatInvalid},
			check:   wantNothing},
		{name: "payload format invalid QoS 2", spec: "3.3.2.3.2", v: v5,
			subs: subs(sub("t", 1)), pub: func(v packet.Version) []byte { return publish(v, "t", "\xff", qos(2, 4), pfi(1)) },
			wantAck: &packet.Pubrec{PacketID: 4, ReasonCode: packet.PayloadFormatInvalid},
			check:   wantNothing},
		{name: "payload format invalid QoS 0", spec: "3.3.2.3.2", v: v5,
			subs: subs(sub("t", 1)), pub: func(v packet.Version) []byte { return publish(v, "t", "\xff", pfi(1)) },
			close: packet.PayloadFormatInvalid, check: wantNothing},
		// [MQTT-3.3.2-4]: the Payload Format Indicator goes through.
		{name: "payload format valid", spec: "[MQTT-3.3.2-4]", v: v5,
			subs: subs(sub("t", 1)), pub: func(v packet.Version) []byte { return publish(v, "t", "é", pfi(1)) },
			check: func(t *testing.T, got []packet.Packet) {
				p := one[*packet.Publish](t, got)
				if !p.Properties.Has(packet.PropPayloadFormat) || p.Properties.PayloadFormat != 1 {
					t.Errorf("Payload Format Indicator not forwarded")
				}
			}},
		// [MQTT-3.3.4-6]: a client's PUBLISH carries no Subscription Identifier.
		{name: "subscription identifier from the client", spec: "[MQTT-3.3.4-6]", v: v5,
			subs: subs(sub("t", 1)), pub: func(v packet.Version) []byte {
				return publish(v, "t", "m", qos(1, 1), pubProps(func(p *packet.Properties) { p.SubscriptionIDs = []uint32{5} }))
			},
			close: packet.ProtocolError, check: wantNothing},
		// [MQTT-3.3.2-2]: a topic name holds no wildcard.
		{name: "wildcard in topic name", spec: "[MQTT-3.3.2-2]", v: v5,
			subs: subs(sub("#", 1)), pub: func(v packet.Version) []byte { return rawPublish(v, "a/+", 1) },
			close: packet.TopicNameInvalid, check: wantNothing},
		{name: "3.1.1 wildcard in topic name", spec: "[MQTT-3.3.2-2]", v: v311,
			subs: subs(sub("#", 1)), pub: func(v packet.Version) []byte { return rawPublish(v, "a/#", 1) },
			close: packet.TopicNameInvalid, check: wantNothing},
		// [MQTT-3.3.1-4]: QoS 3 is malformed.
		{name: "QoS 3", spec: "[MQTT-3.3.1-4]", v: v5,
			subs: subs(sub("#", 1)), pub: func(v packet.Version) []byte { f := publish(v, "t", "m", qos(1, 1)); f[0] |= 0x06; return f },
			close: packet.MalformedPacket, check: wantNothing},
		// [MQTT-3.3.2-15] to [MQTT-3.3.2-20]: properties go through unaltered,
		// user properties in order.
		{name: "properties forwarded", spec: "[MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-17] [MQTT-3.3.2-18] [MQTT-3.3.2-20]", v: v5,
			subs: subs(sub("t", 1)), pub: func(v packet.Version) []byte {
				return publish(v, "t", "m", qos(1, 1), pubProps(func(p *packet.Properties) {
					p.ContentType, p.ResponseTopic, p.CorrelationData = "text/plain", "reply/to", []byte{1, 2}
					p.Set(packet.PropContentType).Set(packet.PropResponseTopic).Set(packet.PropCorrelationData)
					p.User = []packet.UserProperty{{Key: "b", Value: "1"}, {Key: "a", Value: "2"}, {Key: "b", Value: "3"}}
				}))
			},
			wantAck: &packet.Puback{PacketID: 1},
			check: func(t *testing.T, got []packet.Packet) {
				p := one[*packet.Publish](t, got).Properties
				if p.ContentType != "text/plain" || p.ResponseTopic != "reply/to" || !reflect.DeepEqual(p.CorrelationData, []byte{1, 2}) {
					t.Errorf("properties %+v", p)
				}
				want := []packet.UserProperty{{Key: "b", Value: "1"}, {Key: "a", Value: "2"}, {Key: "b", Value: "3"}}
				if !reflect.DeepEqual(p.User, want) {
					t.Errorf("user properties %v, want %v", p.User, want)
				}
				if p.Has(packet.PropMessageExpiry) {
					t.Errorf("Message Expiry Interval added")
				}
			}},
		// A 3.1.1 subscriber gets no properties.
		{name: "5.0 publisher, 3.1.1 subscriber", spec: "3.3.2.3", v: v5, subV: v311,
			subs: subs(sub("t", 1)), pub: func(v packet.Version) []byte { return publish(v, "t", "m", qos(1, 1), msgExpiry(30)) },
			wantAck: &packet.Puback{PacketID: 1},
			check: func(t *testing.T, got []packet.Packet) {
				if p := one[*packet.Publish](t, got); p.QoS != 1 || string(p.Payload) != "m" {
					t.Errorf("got %s", describe(p))
				}
			}},
		// [MQTT-3.3.2-6]: the Message Expiry Interval is forwarded.
		{name: "message expiry forwarded", spec: "[MQTT-3.3.2-6]", v: v5,
			subs: subs(sub("t", 1)), pub: func(v packet.Version) []byte { return publish(v, "t", "m", msgExpiry(30)) },
			check: func(t *testing.T, got []packet.Packet) {
				p := one[*packet.Publish](t, got)
				if !p.Properties.Has(packet.PropMessageExpiry) || p.Properties.MessageExpiry != 30 {
					t.Errorf("Message Expiry Interval %d, want 30", p.Properties.MessageExpiry)
				}
			}},
		// Section 3.3.2.3.4: a Topic Alias is not forwarded.
		{name: "topic alias not forwarded", spec: "3.3.2.3.4", v: v5,
			subs: subs(sub("t", 0)), pub: func(v packet.Version) []byte { return publish(v, "t", "m", alias(1)) },
			check: func(t *testing.T, got []packet.Packet) {
				if p := one[*packet.Publish](t, got); p.Topic != "t" || p.Properties.Has(packet.PropTopicAlias) {
					t.Errorf("got %s with alias %d", describe(p), p.Properties.TopicAlias)
				}
			}},
		// [MQTT-3.1.2-24] [MQTT-3.1.2-25]: a packet larger than the
		// subscriber's Maximum Packet Size is dropped.
		{name: "subscriber maximum packet size", spec: "[MQTT-3.1.2-24] [MQTT-3.1.2-25]", v: v5,
			subs: subs(sub("t", 1)), pub: func(v packet.Version) []byte { return publish(v, "t", strings.Repeat("x", 200)) },
			check: wantNothing},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.cfg)
			subV := tc.subV
			if subV == 0 {
				subV = tc.v
			}
			var opts []connectOpt
			if subV == v5 {
				opts = append(opts, maxPacket(150))
			}
			s, _, _ := e.connectOn("proxy-S", subV, "sub", opts...)
			for _, p := range tc.subs {
				sp := p.(*packet.Subscribe)
				if subV < v5 {
					sp = &packet.Subscribe{PacketID: sp.PacketID, Subscriptions: sp.Subscriptions}
				}
				s.sub(sp.Subscriptions...)
			}
			pub, _, _ := e.connectOn("proxy-P", tc.v, "pub")
			r := pub.send(tc.pub(tc.v))
			got := pub.out(r)
			switch {
			case tc.close != 0:
				wantDisconnect(t, pub, r, tc.close)
			case tc.wantAck == nil:
				if len(got) != 0 || r.Close {
					t.Errorf("publisher got %s close=%v, want nothing %s", describeAll(got), r.Close, tc.spec)
				}
			default:
				if r.Close {
					t.Errorf("connection closed %s", tc.spec)
				}
				if len(got) != 1 || !reflect.DeepEqual(got[0], tc.wantAck) {
					t.Errorf("publisher got %s, want %s %s", describeAll(got), describe(tc.wantAck), tc.spec)
				}
			}
			if tc.check != nil {
				tc.check(t, s.recv(r))
			}
		})
	}
}

func subs(ss ...packet.Subscription) []packet.Packet {
	return []packet.Packet{&packet.Subscribe{PacketID: 1, Subscriptions: ss}}
}

func wantNothing(t *testing.T, got []packet.Packet) {
	t.Helper()
	if len(got) != 0 {
		t.Errorf("subscriber got %s, want nothing", describeAll(got))
	}
}

func pfi(b byte) pubOpt {
	return pubProps(func(p *packet.Properties) {
		p.PayloadFormat = b
		p.Set(packet.PropPayloadFormat)
	})
}

// rawPublish builds a PUBLISH frame by hand, for topic names Append
// would encode but a valid client would not send.
func rawPublish(v packet.Version, topic string, id uint16) []byte {
	body := []byte{byte(len(topic) >> 8), byte(len(topic))}
	body = append(body, topic...)
	body = append(body, byte(id>>8), byte(id))
	if v == v5 {
		body = append(body, 0)
	}
	body = append(body, 'x')
	return append([]byte{0x32, byte(len(body))}, body...)
}

// A message a client publishes to a topic it subscribes to comes back in
// its own reply, not as a delivery.
func TestPublishToSelf(t *testing.T) {
	for _, v := range versions() {
		t.Run(v.String(), func(t *testing.T) {
			e := newEnv(t, session.Config{})
			c, _, _ := e.connect(v, "a")
			c.sub(sub("t", 1))
			r := c.send(publish(v, "t", "me", qos(1, 5)))
			if len(r.Deliveries) != 0 {
				t.Errorf("deliveries %+v", r.Deliveries)
			}
			ps := c.out(r)
			wantPayloads(t, ps, "me")
			if acks := ofType[*packet.Puback](ps); len(acks) != 1 || acks[0].PacketID != 5 {
				t.Errorf("got %s, want a PUBACK for 5", describeAll(ps))
			}
			p := publishes(ps)[0]
			// The client acknowledges its copy.
			if ps := c.out(c.send(puback(v, p.PacketID))); len(ps) != 0 {
				t.Errorf("PUBACK answered with %s", describeAll(ps))
			}
		})
	}
}

// [MQTT-3.8.3-3]: with No Local, a client's own messages do not come back.
func TestNoLocal(t *testing.T) {
	e := newEnv(t, session.Config{})
	a, _, _ := e.connect(v5, "a")
	a.sub(sub("t", 1, noLocal), sub("u", 1))
	b, _, _ := e.connect(v5, "b")
	b.sub(sub("t", 1, noLocal))
	r := a.send(publish(v5, "t", "1", qos(1, 1)))
	ps := a.out(r)
	wantTypes(t, ps, packet.PUBACK) // [MQTT-3.8.3-3]
	wantPayloads(t, b.recv(r), "1")
	// Without No Local the message comes back.
	r = a.send(publish(v5, "u", "2"))
	wantPayloads(t, a.out(r), "2")
	// Another client with No Local gets the message: the option concerns
	// the publisher's own client id only.
	r = b.send(publish(v5, "t", "3"))
	wantPayloads(t, a.recv(r), "3")
	wantPayloads(t, b.out(r))
}

// Overlapping subscriptions of one client give one delivery at the highest
// QoS, carrying every matching Subscription Identifier [MQTT-3.3.4-2]
// [MQTT-3.3.4-3] [MQTT-3.3.4-4].
func TestOverlappingSubscriptions(t *testing.T) {
	e := newEnv(t, session.Config{})
	s, _, _ := e.connectOn("proxy-S", v5, "s")
	for i, f := range []struct {
		sub packet.Subscription
		id  uint32
	}{{sub("a/+", 0), 1}, {sub("a/b", 2), 2}, {sub("#", 1), 0}, {sub("+/b", 1), 3}} {
		var frame []byte
		if f.id != 0 {
			frame = subscribeID(uint16(i+1), f.id, f.sub)
		} else {
			frame = subscribe(v5, uint16(i+1), f.sub)
		}
		wantTypes(t, s.out(s.send(frame)), packet.SUBACK)
	}
	old, _, _ := e.connectOn("proxy-O", v311, "old")
	old.sub(sub("a/+", 0), sub("a/#", 2))
	pub, _, _ := e.connect(v5, "pub")
	r := pub.send(publish(v5, "a/b", "m", qos(2, 1)))
	p := one[*packet.Publish](t, s.recv(r))
	if p.QoS != 2 {
		t.Errorf("delivered at QoS %d, want 2 [MQTT-3.3.4-2]", p.QoS)
	}
	ids := slices.Clone(p.Properties.SubscriptionIDs)
	slices.Sort(ids)
	if !reflect.DeepEqual(ids, []uint32{1, 2, 3}) {
		t.Errorf("subscription identifiers %v, want 1 2 3 [MQTT-3.3.4-4]", p.Properties.SubscriptionIDs)
	}
	// 3.1.1 gets one copy too, at the highest QoS.
	if p := one[*packet.Publish](t, old.recv(r)); p.QoS != 2 {
		t.Errorf("3.1.1 delivered at QoS %d", p.QoS)
	}
	// Only the matching subscription's identifier for another topic.
	r = pub.send(publish(v5, "x/b", "m2"))
	if p := one[*packet.Publish](t, s.recv(r)); !reflect.DeepEqual(p.Properties.SubscriptionIDs, []uint32{3}) {
		t.Errorf("subscription identifiers %v, want [3] [MQTT-3.3.4-3]", p.Properties.SubscriptionIDs)
	}
}

// [MQTT-3.3.2-8] to [MQTT-3.3.2-12] and section 3.3.2.3.4: topic aliases.
func TestTopicAlias(t *testing.T) {
	cases := []struct {
		name   string
		spec   string
		frames [][]byte
		// topics the subscriber gets, in order; close is the DISCONNECT
		// reason of the last frame, 0 for none.
		topics []string
		close  packet.ReasonCode
	}{
		{name: "set and use", spec: "[MQTT-3.3.2-12] 3.3.2.3.4",
			frames: [][]byte{publish(v5, "a/b", "1", alias(1)), publish(v5, "", "2", alias(1)), publish(v5, "", "3", alias(1))},
			topics: []string{"a/b", "a/b", "a/b"}},
		{name: "replace", spec: "3.3.2.3.4",
			frames: [][]byte{publish(v5, "a/b", "1", alias(1)), publish(v5, "a/c", "2", alias(1)), publish(v5, "", "3", alias(1))},
			topics: []string{"a/b", "a/c", "a/c"}},
		{name: "two aliases", spec: "3.3.2.3.4",
			frames: [][]byte{publish(v5, "a/b", "1", alias(1)), publish(v5, "a/c", "2", alias(10)),
				publish(v5, "", "3", alias(1)), publish(v5, "", "4", alias(10)), publish(v5, "a/d", "5")},
			topics: []string{"a/b", "a/c", "a/b", "a/c", "a/d"}},
		{name: "unknown alias", spec: "3.3.2.3.4",
			frames: [][]byte{publish(v5, "a/b", "1", alias(1)), publish(v5, "", "2", alias(2))},
			topics: []string{"a/b"}, close: packet.ProtocolError},
		{name: "alias above the maximum", spec: "[MQTT-3.3.2-9] [MQTT-3.3.2-10]",
			frames: [][]byte{publish(v5, "a/b", "1", alias(11))}, close: packet.TopicAliasInvalid},
		{name: "alias 0", spec: "[MQTT-3.3.2-8]",
			frames: [][]byte{publish(v5, "a/b", "1", alias(0))}, close: packet.TopicAliasInvalid},
		{name: "empty topic without alias", spec: "[MQTT-3.3.2-1]",
			frames: [][]byte{rawPublish(v5, "", 1)}, close: packet.ProtocolError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, session.Config{})
			s, _, _ := e.connect(v5, "s")
			s.sub(sub("#", 0))
			pub, _, _ := e.connect(v5, "pub")
			var got []string
			var last *session.Reply
			for i, f := range tc.frames {
				last = pub.send(f)
				for _, p := range publishes(s.recv(last)) {
					got = append(got, p.Topic)
					if p.Properties.Has(packet.PropTopicAlias) {
						t.Errorf("Topic Alias forwarded (3.3.2.3.4)")
					}
				}
				if last.Close && i != len(tc.frames)-1 {
					t.Fatalf("frame %d closed the connection: %s", i, describeAll(pub.out(last)))
				}
			}
			if !reflect.DeepEqual(got, tc.topics) && !(len(got) == 0 && len(tc.topics) == 0) {
				t.Errorf("subscriber got topics %q, want %q %s", got, tc.topics, tc.spec)
			}
			if tc.close != 0 {
				wantDisconnect(t, pub, last, tc.close)
			} else if last.Close {
				t.Errorf("connection closed")
			}
		})
	}
	// Aliases belong to the connection: a new one starts without them
	// [MQTT-3.3.2-7].
	t.Run("per connection", func(t *testing.T) {
		e := newEnv(t, session.Config{})
		a, _, _ := e.connect(v5, "a", persistent())
		a.send(publish(v5, "a/b", "1", alias(1)))
		a.disconnect()
		a, _, _ = e.connect(v5, "a", persistent())
		wantDisconnect(t, a, a.send(publish(v5, "", "2", alias(1))), packet.ProtocolError)
	})
	// The server's Topic Alias Maximum is configurable.
	t.Run("configured maximum", func(t *testing.T) {
		e := newEnv(t, session.Config{TopicAliasMax: 2})
		a, _, _ := e.connect(v5, "a")
		if r := a.send(publish(v5, "a/b", "1", alias(2))); r.Close {
			t.Fatalf("alias 2 refused")
		}
		wantDisconnect(t, a, a.send(publish(v5, "a/b", "1", alias(3))), packet.TopicAliasInvalid)
	})
	// What the aliases hold together is bounded (MaxAliasBytes): they
	// travel in every event's connection state. Replacing an alias counts
	// its new topic only; an alias that would pass the bound closes the
	// connection as invalid, 0x94 (issue 14, medium 5).
	t.Run("bytes held", func(t *testing.T) {
		e := newEnv(t, session.Config{MaxAliasBytes: 100})
		s, _, _ := e.connect(v5, "s")
		s.sub(sub("#", 0))
		a, _, _ := e.connect(v5, "a")
		t40 := func(c string) string { return strings.Repeat(c, 40) }
		for i, f := range [][]byte{publish(v5, t40("a"), "1", alias(1)), publish(v5, t40("b"), "2", alias(2)),
			publish(v5, t40("c"), "3", alias(1)), publish(v5, "", "4", alias(1))} {
			if r := a.send(f); r.Close {
				t.Fatalf("frame %d closed the connection: %s", i, describeAll(a.out(r)))
			}
		}
		// 80 bytes held; 40 more would be 120.
		r := a.send(publish(v5, t40("d"), "5", alias(3)))
		wantDisconnect(t, a, r, packet.TopicAliasInvalid)
		if ps := publishes(s.recv(r)); len(ps) != 0 {
			t.Errorf("the refused message was published")
		}
	})
}

// Section 4.3.3: a QoS 2 message is delivered once, however often it is
// resent before PUBREL.
func TestQoS2Receive(t *testing.T) {
	for _, v := range versions() {
		t.Run(v.String(), func(t *testing.T) {
			e := newEnv(t, session.Config{})
			s, _, _ := e.connectOn("proxy-S", v, "s")
			s.sub(sub("t", 2))
			pub, _, _ := e.connect(v, "pub")

			r := pub.send(publish(v, "t", "m", qos(2, 9)))
			if ack := one[*packet.Pubrec](t, pub.out(r)); ack.PacketID != 9 || ack.ReasonCode != packet.Success {
				t.Errorf("got %s, want PUBREC 9 [MQTT-4.3.3-8]", describe(ack))
			}
			wantPayloads(t, s.recv(r), "m")

			// [MQTT-4.3.3-10]: a resend before PUBREL gets PUBREC again and
			// is not delivered again.
			r = pub.send(publish(v, "t", "m", qos(2, 9), dup()))
			if ack := one[*packet.Pubrec](t, pub.out(r)); ack.PacketID != 9 || ack.ReasonCode != packet.Success {
				t.Errorf("resend: got %s, want PUBREC 9 [MQTT-4.3.3-10]", describe(ack))
			}
			if len(r.Deliveries) != 0 {
				t.Errorf("resend delivered again [MQTT-4.3.3-10]")
			}

			// [MQTT-4.3.3-11]: PUBREL gets PUBCOMP.
			r = pub.send(pubrel(v, 9))
			if ack := one[*packet.Pubcomp](t, pub.out(r)); ack.PacketID != 9 || ack.ReasonCode != packet.Success {
				t.Errorf("got %s, want PUBCOMP 9 [MQTT-4.3.3-11]", describe(ack))
			}
			if pub.state.Pending != 0 {
				t.Errorf("pending %d after PUBREL", pub.state.Pending)
			}
			// Section 3.7.2.1: an unknown PUBREL gets PUBCOMP 0x92 (5.0).
			r = pub.send(pubrel(v, 9))
			want := packet.PacketIdentifierNotFound
			if v < v5 {
				want = packet.Success
			}
			if ack := one[*packet.Pubcomp](t, pub.out(r)); ack.PacketID != 9 || ack.ReasonCode != want {
				t.Errorf("got %s, want PUBCOMP 9 0x%02X", describe(ack), byte(want))
			}
			// [MQTT-4.3.3-12]: after PUBCOMP the identifier is a new message.
			r = pub.send(publish(v, "t", "n", qos(2, 9)))
			wantPayloads(t, s.recv(r), "n")
		})
	}
}

// Section 4.9: a client that sends more QoS 2 messages than the server's
// Receive Maximum without completing them is disconnected with 0x93.
func TestServerReceiveMaximum(t *testing.T) {
	e := newEnv(t, session.Config{ReceiveMax: 2})
	pub, ack, _ := e.connect(v5, "pub")
	if ack.Properties.ReceiveMaximum != 2 {
		t.Fatalf("Receive Maximum %d", ack.Properties.ReceiveMaximum)
	}
	pub.send(publish(v5, "t", "1", qos(2, 1)))
	pub.send(publish(v5, "t", "2", qos(2, 2)))
	// QoS 1 messages are acknowledged at once and do not count.
	wantTypes(t, pub.out(pub.send(publish(v5, "t", "q1", qos(1, 5)))), packet.PUBACK)
	// PUBREL frees a slot.
	wantTypes(t, pub.out(pub.send(pubrel(v5, 1))), packet.PUBCOMP)
	wantTypes(t, pub.out(pub.send(publish(v5, "t", "3", qos(2, 3)))), packet.PUBREC)
	wantDisconnect(t, pub, pub.send(publish(v5, "t", "4", qos(2, 4))), packet.ReceiveMaximumExceeded)
}

// Section 4.8.2: a shared subscription group gets each message once.
func TestSharedSubscriptions(t *testing.T) {
	t.Run("one member per message", func(t *testing.T) {
		e := newEnv(t, session.Config{})
		m1, _, _ := e.connectOn("proxy-1", v5, "m1")
		m1.sub(sub("$share/g/t/#", 0))
		m2, _, _ := e.connectOn("proxy-2", v311, "m2")
		m2.sub(sub("$share/g/t/#", 0))
		other, _, _ := e.connect(v5, "other")
		other.sub(sub("$share/h/t/#", 0), sub("t/x", 0))
		pub, _, _ := e.connect(v5, "pub")
		n1, n2 := 0, 0
		for range 40 {
			r := pub.send(publish(v5, "t/x", "m"))
			a, b := len(m1.recv(r)), len(m2.recv(r))
			if a+b != 1 {
				t.Fatalf("group g got %d copies, want 1 (4.8.2)", a+b)
			}
			n1, n2 = n1+a, n2+b
			// The other group and the plain subscription each get a copy:
			// two for the client that has both.
			if got := len(other.recv(r)); got != 2 {
				t.Fatalf("client in group h with a plain subscription got %d copies, want 2", got)
			}
		}
		if n1 == 0 || n2 == 0 {
			t.Errorf("members got %d and %d of 40 messages: not distributed", n1, n2)
		}
	})
	t.Run("online members first", func(t *testing.T) {
		e := newEnv(t, session.Config{})
		m1, _, _ := e.connect(v5, "m1", persistent())
		m1.sub(sub("$share/g/t", 1))
		m2, _, _ := e.connect(v5, "m2", persistent())
		m2.sub(sub("$share/g/t", 1))
		m2.disconnect()
		pub, _, _ := e.connect(v5, "pub")
		for i := range 20 {
			r := pub.send(publish(v5, "t", "m", qos(1, uint16(i+1))))
			if got := len(m1.recv(r)); got != 1 {
				t.Fatalf("online member got %d copies", got)
			}
			m1.send(puback(v5, publishes(m1.recv(r))[0].PacketID))
		}
		m2, ack, ps := e.connect(v5, "m2", persistent())
		if !ack.SessionPresent || len(ps) != 0 {
			t.Errorf("offline member got %s", describeAll(ps))
		}
	})
	t.Run("all offline: queued for one", func(t *testing.T) {
		e := newEnv(t, session.Config{})
		for _, id := range []string{"m1", "m2"} {
			m, _, _ := e.connect(v5, id, persistent())
			m.sub(sub("$share/g/t", 1))
			m.disconnect()
		}
		pub, _, _ := e.connect(v5, "pub")
		for i := range 10 {
			wantTypes(t, pub.out(pub.send(publish(v5, "t", "m", qos(1, uint16(i+1))))), packet.PUBACK)
		}
		_, _, p1 := e.connect(v5, "m1", persistent())
		_, _, p2 := e.connect(v5, "m2", persistent())
		if len(p1)+len(p2) != 10 {
			t.Errorf("members got %d and %d messages, want 10 in all", len(p1), len(p2))
		}
	})
	t.Run("no retained messages", func(t *testing.T) {
		e := newEnv(t, session.Config{})
		pub, _, _ := e.connect(v5, "pub")
		pub.send(publish(v5, "t", "r", retained()))
		m, _, _ := e.connect(v5, "m")
		if ps := m.sub(sub("$share/g/t", 1)); len(ps) != 0 {
			t.Errorf("shared subscription got retained %s (4.8.2)", describeAll(ps))
		}
	})
}

// Messages for an offline persistent session are queued and sent, in
// order, after the CONNACK of its next connection (sections 4.1 and 4.6).
func TestOfflineQueue(t *testing.T) {
	cases := []struct {
		name string
		spec string
		v    packet.Version
		cfg  session.Config
		// the subscriber's QoS, and the QoS of each message published
		subQoS byte
		pubQoS []byte
		want   []string // payloads delivered on reconnect
	}{
		{name: "QoS 1 queued in order", spec: "[MQTT-4.6.0-6] 4.1", v: v5, subQoS: 1, pubQoS: []byte{1, 1, 1}, want: []string{"0", "1", "2"}},
		{name: "QoS 2 queued", spec: "4.1", v: v5, subQoS: 2, pubQoS: []byte{2, 2}, want: []string{"0", "1"}},
		{name: "3.1.1 QoS 1 queued", spec: "4.1", v: v311, subQoS: 1, pubQoS: []byte{1, 1, 1}, want: []string{"0", "1", "2"}},
		{name: "QoS 0 not queued", spec: "4.1 (QoS 0 optional)", v: v5, subQoS: 1, pubQoS: []byte{0, 1, 0}, want: []string{"1"}},
		{name: "QoS 0 downgrade not queued", spec: "4.1", v: v5, subQoS: 0, pubQoS: []byte{1, 2}, want: nil},
		{name: "QoS 0 queued with QueueQoS0", spec: "4.1", v: v5, cfg: session.Config{QueueQoS0: true},
			subQoS: 1, pubQoS: []byte{0, 1, 0}, want: []string{"0", "1", "2"}},
		{name: "MaxQueued bound", spec: "4.1", v: v5, cfg: session.Config{MaxQueued: 2},
			subQoS: 1, pubQoS: []byte{1, 1, 1, 1}, want: []string{"0", "1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.cfg)
			popt := persistent()
			if tc.v < v5 {
				popt = resume()
			}
			s, _, _ := e.connect(tc.v, "s", popt)
			s.sub(sub("t", tc.subQoS))
			s.disconnect()
			pub, _, _ := e.connect(v5, "pub")
			for i, q := range tc.pubQoS {
				opts := []pubOpt{}
				if q > 0 {
					opts = append(opts, qos(q, uint16(i+1)))
				}
				r := pub.send(publish(v5, "t", string(rune('0'+i)), opts...))
				if len(r.Deliveries) != 0 {
					t.Fatalf("delivery to an offline session: %+v", r.Deliveries)
				}
			}
			s, ack, ps := e.connect(tc.v, "s", popt)
			if !ack.SessionPresent {
				t.Fatalf("session not present")
			}
			wantPayloads(t, ps, tc.want...)
			for _, p := range publishes(ps) {
				if p.Dup {
					t.Errorf("first delivery with DUP set: %s [MQTT-3.3.1-1]", describe(p))
				}
				if p.QoS != min(tc.subQoS, tc.pubQoS[p.Payload[0]-'0']) {
					t.Errorf("%s delivered at the wrong QoS", describe(p))
				}
			}
			// The queue is empty now: a further reconnect gets the in-flight
			// messages again, nothing more.
			for _, p := range publishes(ps) {
				switch p.QoS {
				case 1:
					s.send(puback(tc.v, p.PacketID))
				case 2:
					wantTypes(t, s.out(s.send(pubrec(tc.v, p.PacketID))), packet.PUBREL)
					s.send(pubcomp(tc.v, p.PacketID))
				}
			}
			s.disconnect()
			_, _, ps = e.connect(tc.v, "s", popt)
			if len(ps) != 0 {
				t.Errorf("second reconnect got %s", describeAll(ps))
			}
		})
	}
}

// [MQTT-3.3.2-5] [MQTT-3.3.2-6]: message expiry while a message waits.
func TestMessageExpiry(t *testing.T) {
	cases := []struct {
		name    string
		spec    string
		wait    int // seconds offline
		want    []string
		expiry  uint32 // the interval forwarded with the message
		subQoS  byte
		retains bool
	}{
		{name: "remaining interval forwarded", spec: "[MQTT-3.3.2-6]", wait: 4, want: []string{"m"}, expiry: 6, subQoS: 1},
		{name: "expired not delivered", spec: "[MQTT-3.3.2-5]", wait: 11, subQoS: 1},
		{name: "expired exactly", spec: "[MQTT-3.3.2-5]", wait: 10, subQoS: 1},
		{name: "QoS 2 expired not delivered", spec: "[MQTT-3.3.2-5]", wait: 11, subQoS: 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, session.Config{})
			s, _, _ := e.connect(v5, "s", persistent())
			s.sub(sub("t", tc.subQoS))
			s.disconnect()
			pub, _, _ := e.connect(v5, "pub")
			pub.send(publish(v5, "t", "m", qos(1, 1), msgExpiry(10)))
			// A message without expiry, after the expiring one, is still
			// delivered.
			pub.send(publish(v5, "t", "keep", qos(1, 2)))
			e.clock.Advance(secs(tc.wait))
			s, _, ps := e.connect(v5, "s", persistent())
			wantPayloads(t, ps, append(tc.want, "keep")...)
			if len(tc.want) > 0 {
				p := publishes(ps)[0]
				if !p.Properties.Has(packet.PropMessageExpiry) || p.Properties.MessageExpiry != tc.expiry {
					t.Errorf("Message Expiry Interval %d, want %d %s", p.Properties.MessageExpiry, tc.expiry, tc.spec)
				}
			}
			// Nothing expired is left in flight to be resent later.
			for _, p := range publishes(ps) {
				if p.QoS == 1 {
					s.send(puback(v5, p.PacketID))
				} else {
					s.send(pubrec(v5, p.PacketID))
					s.send(pubcomp(v5, p.PacketID))
				}
			}
			s.disconnect()
			if _, _, ps := e.connect(v5, "s", persistent()); len(ps) != 0 {
				t.Errorf("reconnect resent %s", describeAll(ps))
			}
		})
	}
}

// Expired messages queued behind the window are not sent when it opens.
func TestMessageExpiryInQueue(t *testing.T) {
	e := newEnv(t, session.Config{})
	s, _, _ := e.connect(v5, "s", receiveMax(1))
	s.sub(sub("t", 1))
	pub, _, _ := e.connect(v5, "pub")
	r := pub.send(publish(v5, "t", "1", qos(1, 1)))
	first := one[*packet.Publish](t, s.recv(r))
	pub.send(publish(v5, "t", "2", qos(1, 2), msgExpiry(5)))
	pub.send(publish(v5, "t", "3", qos(1, 3)))
	e.clock.Advance(secs(6))
	// The PUBACK opens the window: "2" expired while queued [MQTT-3.3.2-5].
	ps := s.out(s.send(puback(v5, first.PacketID)))
	wantPayloads(t, ps, "3")
}

func secs(n int) time.Duration { return time.Duration(n) * time.Second }

// [MQTT-4.3.3-9]: after a PUBREC with a failure code the packet identifier
// is free: the next PUBLISH with it is a new message.
func TestQoS2RefusedThenNew(t *testing.T) {
	e := newEnv(t, session.Config{ReceiveMax: 1})
	s, _, _ := e.connect(v5, "s")
	s.sub(sub("t", 0))
	pub, _, _ := e.connect(v5, "pub")
	r := pub.send(publish(v5, "t", "\xff", qos(2, 4), pfi(1)))
	if ack := one[*packet.Pubrec](t, pub.out(r)); ack.ReasonCode != packet.PayloadFormatInvalid {
		t.Fatalf("got %s", describe(ack))
	}
	// Nothing counts against the Receive Maximum of 1 either.
	r = pub.send(publish(v5, "t", "ok", qos(2, 4), pfi(1)))
	if ack := one[*packet.Pubrec](t, pub.out(r)); ack.ReasonCode != packet.Success {
		t.Fatalf("got %s [MQTT-4.3.3-9]", describe(ack))
	}
	wantPayloads(t, s.recv(r), "ok")
}

// [MQTT-4.8.2-3]: a shared subscription member gets the QoS it was granted.
func TestSharedSubscriptionQoS(t *testing.T) {
	e := newEnv(t, session.Config{})
	m, _, _ := e.connect(v5, "m")
	wantTypes(t, m.out(m.send(subscribeID(1, 9, sub("$share/g/t", 1)))), packet.SUBACK)
	pub, _, _ := e.connect(v5, "pub")
	p := one[*packet.Publish](t, m.recv(pub.send(publish(v5, "t", "x", qos(2, 1)))))
	if p.QoS != 1 || !reflect.DeepEqual(p.Properties.SubscriptionIDs, []uint32{9}) {
		t.Errorf("got %s with subscription identifiers %v, want QoS 1 and [9]", describe(p), p.Properties.SubscriptionIDs)
	}
}
