package session_test

import (
	"reflect"
	"testing"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
)

// [MQTT-3.8.4-1] [MQTT-3.8.4-2] [MQTT-3.8.4-5] [MQTT-3.8.4-6] [MQTT-3.9.3-1]:
// one SUBACK with the SUBSCRIBE's identifier and a code per filter, in
// order; an invalid filter fails alone (0x8F at 5.0, 0x80 at 3.1.1).
func TestSubscribeCodes(t *testing.T) {
	cases := []struct {
		name string
		spec string
		v    packet.Version
		subs []packet.Subscription
		want []packet.ReasonCode
	}{
		{name: "granted QoS", spec: "[MQTT-3.8.4-7] [MQTT-3.9.3-1]", v: v5,
			subs: []packet.Subscription{sub("a", 0), sub("b", 1), sub("c/#", 2), sub("+/d", 1)},
			want: []packet.ReasonCode{0, 1, 2, 1}},
		{name: "3.1.1 granted QoS", spec: "[MQTT-3.8.4-5] (3.1.1)", v: v311,
			subs: []packet.Subscription{sub("a", 2), sub("b", 0)},
			want: []packet.ReasonCode{2, 0}},
		{name: "invalid filters", spec: "[MQTT-4.7.1-1] [MQTT-4.7.1-2] 3.9.3", v: v5,
			subs: []packet.Subscription{sub("a/#/b", 1), sub("ok", 1), sub("a+", 0), sub("x/#", 2), sub("#a", 0)},
			want: []packet.ReasonCode{packet.TopicFilterInvalid, 1, packet.TopicFilterInvalid, 2, packet.TopicFilterInvalid}},
		{name: "3.1.1 invalid filters", spec: "[MQTT-4.7.1-2] [MQTT-4.7.1-3] (3.1.1) 3.9.3", v: v311,
			subs: []packet.Subscription{sub("a/#/b", 1), sub("ok", 1), sub("+a", 0)},
			want: []packet.ReasonCode{packet.UnspecifiedError, 1, packet.UnspecifiedError}},
		{name: "invalid shared filters", spec: "[MQTT-4.8.2-1] [MQTT-4.8.2-2]", v: v5,
			subs: []packet.Subscription{sub("$share/g", 1), sub("$share//t", 1), sub("$share/g+/t", 1), sub("$share/g/t", 1)},
			want: []packet.ReasonCode{packet.TopicFilterInvalid, packet.TopicFilterInvalid, packet.TopicFilterInvalid, 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, session.Config{})
			c, _, _ := e.connect(tc.v, "c")
			r := c.send(subscribe(tc.v, 42, tc.subs...))
			ack := one[*packet.Suback](t, c.out(r))
			if ack.PacketID != 42 {
				t.Errorf("SUBACK %d, want 42 [MQTT-3.8.4-2]", ack.PacketID)
			}
			if !reflect.DeepEqual(ack.ReasonCodes, tc.want) {
				t.Errorf("SUBACK %v, want %v %s", ack.ReasonCodes, tc.want, tc.spec)
			}
			// Only the granted filters were stored.
			stored, _ := e.store.Subscriptions(t.Context(), "c")
			n := 0
			for _, rc := range tc.want {
				if !rc.IsError() {
					n++
				}
			}
			if len(stored) != n {
				t.Errorf("%d subscriptions stored, want %d", len(stored), n)
			}
		})
	}
}

// SUBSCRIBE and UNSUBSCRIBE that fail to decode close the connection with
// the error's reason code.
func TestSubscribeMalformed(t *testing.T) {
	cases := []struct {
		name  string
		spec  string
		frame []byte
		rc    packet.ReasonCode
	}{
		{name: "no filters", spec: "[MQTT-3.8.3-2]", frame: []byte{0x82, 3, 0, 1, 0}, rc: packet.ProtocolError},
		{name: "No Local on a shared subscription", spec: "[MQTT-3.8.3-4]",
			frame: func() []byte { f := subscribe(v5, 1, sub("$share/g/t", 1)); f[len(f)-1] |= 0x04; return f }(), rc: packet.ProtocolError},
		{name: "reserved option bits", spec: "[MQTT-3.8.3-5]",
			frame: func() []byte { f := subscribe(v5, 1, sub("t", 1)); f[len(f)-1] |= 0x40; return f }(), rc: packet.MalformedPacket},
		{name: "retain handling 3", spec: "3.8.3.1",
			frame: func() []byte { f := subscribe(v5, 1, sub("t", 1)); f[len(f)-1] |= 0x30; return f }(), rc: packet.ProtocolError},
		{name: "reserved flags", spec: "[MQTT-3.8.1-1]",
			frame: func() []byte { f := subscribe(v5, 1, sub("t", 1)); f[0] = 0x80; return f }(), rc: packet.MalformedPacket},
		{name: "UNSUBSCRIBE without filters", spec: "[MQTT-3.10.3-2]", frame: []byte{0xA2, 3, 0, 1, 0}, rc: packet.ProtocolError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, session.Config{})
			c, _, _ := e.connect(v5, "c")
			wantDisconnect(t, c, c.send(tc.frame), tc.rc)
		})
	}
}

// Retained messages (section 3.3.1.3): stored, replaced, removed, and sent
// after the SUBACK with the retain flag set as Retain Handling says.
func TestRetained(t *testing.T) {
	type step struct {
		pub  []byte                // a PUBLISH from the publisher, or
		subs []packet.Subscription // a SUBSCRIBE from the subscriber
	}
	cases := []struct {
		name  string
		spec  string
		v     packet.Version
		steps []step
		// want is what the subscriber gets after its last SUBSCRIBE's
		// SUBACK: topic=payload per message.
		want  []string
		check func(t *testing.T, ps []*packet.Publish)
	}{
		{name: "sent with the retain flag", spec: "[MQTT-3.3.1-9] [MQTT-3.3.1-8] (3.1.1)", v: v5,
			steps: []step{{pub: publish(v5, "a/b", "1", retained())}, {pub: publish(v5, "a/c", "2", retained(), qos(1, 1))},
				{pub: publish(v5, "x", "3", retained())}, {subs: []packet.Subscription{sub("a/+", 1)}}},
			want: []string{"a/b=1", "a/c=2"},
			check: func(t *testing.T, ps []*packet.Publish) {
				for _, p := range ps {
					if !p.Retain {
						t.Errorf("%s without the retain flag [MQTT-3.3.1-9]", describe(p))
					}
				}
				if ps[0].QoS != 0 || ps[1].QoS != 1 || ps[1].PacketID == 0 {
					t.Errorf("QoS %d, %d", ps[0].QoS, ps[1].QoS)
				}
			}},
		{name: "3.1.1", spec: "[MQTT-3.3.1-6] [MQTT-3.3.1-8] (3.1.1)", v: v311,
			steps: []step{{pub: publish(v311, "a", "1", retained(), qos(2, 1))}, {subs: []packet.Subscription{sub("#", 1)}}},
			want:  []string{"a=1"},
			check: func(t *testing.T, ps []*packet.Publish) {
				if !ps[0].Retain || ps[0].QoS != 1 {
					t.Errorf("got %s, want retained at QoS 1 [MQTT-3.8.4-8]", describe(ps[0]))
				}
			}},
		{name: "replaced", spec: "[MQTT-3.3.1-5]", v: v5,
			steps: []step{{pub: publish(v5, "a", "1", retained())}, {pub: publish(v5, "a", "2", retained())},
				{subs: []packet.Subscription{sub("a", 0)}}},
			want: []string{"a=2"}},
		{name: "not replaced without the retain flag", spec: "[MQTT-3.3.1-8]", v: v5,
			steps: []step{{pub: publish(v5, "a", "1", retained())}, {pub: publish(v5, "a", "2")},
				{subs: []packet.Subscription{sub("a", 0)}}},
			want: []string{"a=1"}},
		{name: "removed by an empty payload", spec: "[MQTT-3.3.1-6] [MQTT-3.3.1-7]", v: v5,
			steps: []step{{pub: publish(v5, "a", "1", retained())}, {pub: publish(v5, "a", "", retained())},
				{subs: []packet.Subscription{sub("a", 0)}}},
			want: nil},
		{name: "expired", spec: "[MQTT-3.3.2-5]", v: v5,
			steps: []step{{pub: publish(v5, "a", "1", retained(), msgExpiry(1))}, {pub: publish(v5, "b", "2", retained(), msgExpiry(100))},
				{subs: []packet.Subscription{sub("#", 0)}}},
			want: []string{"b=2"},
			check: func(t *testing.T, ps []*packet.Publish) {
				if ps[0].Properties.MessageExpiry != 98 {
					t.Errorf("Message Expiry Interval %d, want 98 [MQTT-3.3.2-6]", ps[0].Properties.MessageExpiry)
				}
			}},
		{name: "retain handling 0 resends", spec: "[MQTT-3.3.1-9] [MQTT-3.8.4-4]", v: v5,
			steps: []step{{pub: publish(v5, "a", "1", retained())}, {subs: []packet.Subscription{sub("a", 0)}},
				{subs: []packet.Subscription{sub("a", 1)}}},
			want: []string{"a=1"}},
		{name: "retain handling 1, new subscription", spec: "[MQTT-3.3.1-10]", v: v5,
			steps: []step{{pub: publish(v5, "a", "1", retained())}, {subs: []packet.Subscription{sub("a", 0, rh(1))}}},
			want:  []string{"a=1"}},
		{name: "retain handling 1, existing subscription", spec: "[MQTT-3.3.1-10]", v: v5,
			steps: []step{{pub: publish(v5, "a", "1", retained())}, {subs: []packet.Subscription{sub("a", 0)}},
				{subs: []packet.Subscription{sub("a", 1, rh(1))}}},
			want: nil},
		{name: "retain handling 2", spec: "[MQTT-3.3.1-11]", v: v5,
			steps: []step{{pub: publish(v5, "a", "1", retained())}, {subs: []packet.Subscription{sub("a", 0, rh(2))}}},
			want:  nil},
		{name: "shared subscription", spec: "4.8.2", v: v5,
			steps: []step{{pub: publish(v5, "a", "1", retained())}, {subs: []packet.Subscription{sub("$share/g/a", 1), sub("a", 1)}}},
			want:  []string{"a=1"}},
		{name: "with subscription identifier", spec: "[MQTT-3.3.4-3]", v: v5,
			steps: []step{{pub: publish(v5, "a", "1", retained())}, {subs: []packet.Subscription{sub("a", 0)}}},
			want:  []string{"a=1"},
			check: func(t *testing.T, ps []*packet.Publish) {
				if !reflect.DeepEqual(ps[0].Properties.SubscriptionIDs, []uint32{77}) {
					t.Errorf("subscription identifiers %v, want [77]", ps[0].Properties.SubscriptionIDs)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, session.Config{})
			pub, _, _ := e.connect(tc.v, "pub")
			s, _, _ := e.connect(tc.v, "s")
			var ps []packet.Packet
			for _, st := range tc.steps {
				if st.pub != nil {
					pub.send(st.pub)
					e.clock.Advance(secs(2))
					continue
				}
				var frame []byte
				if tc.name == "with subscription identifier" {
					frame = subscribeID(5, 77, st.subs...)
				} else {
					frame = subscribe(tc.v, 5, st.subs...)
				}
				all := s.out(s.send(frame))
				if len(all) == 0 || all[0].Type() != packet.SUBACK {
					t.Fatalf("got %s, want SUBACK first", describeAll(all))
				}
				ps = all[1:]
				if len(publishes(ps)) != len(ps) {
					t.Fatalf("after the SUBACK: %s, want PUBLISH only", describeAll(ps))
				}
			}
			var got []string
			for _, p := range publishes(ps) {
				got = append(got, p.Topic+"="+string(p.Payload))
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %q, want %q %s", got, tc.want, tc.spec)
			}
			if tc.check != nil {
				tc.check(t, publishes(ps))
			}
		})
	}
}

// [MQTT-3.8.4-3]: a SUBSCRIBE for an existing filter replaces the
// subscription's options.
func TestResubscribeReplaces(t *testing.T) {
	e := newEnv(t, session.Config{})
	s, _, _ := e.connect(v5, "s")
	s.sub(sub("t", 0))
	s.sub(sub("t", 2))
	pub, _, _ := e.connect(v5, "pub")
	p := one[*packet.Publish](t, s.recv(pub.send(publish(v5, "t", "m", qos(2, 1)))))
	if p.QoS != 2 {
		t.Errorf("delivered at QoS %d, want 2 [MQTT-3.8.4-3]", p.QoS)
	}
	if subs, _ := e.store.Subscriptions(t.Context(), "s"); len(subs) != 1 {
		t.Errorf("%d subscriptions, want 1", len(subs))
	}
}

// [MQTT-3.10.4-1] [MQTT-3.10.4-2] [MQTT-3.10.4-4] [MQTT-3.10.4-5]
// [MQTT-3.11.3-1]: UNSUBACK, one code per filter at 5.0.
func TestUnsubscribe(t *testing.T) {
	for _, v := range versions() {
		t.Run(v.String(), func(t *testing.T) {
			e := newEnv(t, session.Config{})
			s, _, _ := e.connect(v, "s")
			s.sub(sub("a/+", 1), sub("b", 1), sub("$share/g/c", 1))
			r := s.send(unsubscribe(v, 8, "a/+", "missing", "a/x", "$share/g/c"))
			ack := one[*packet.Unsuback](t, s.out(r))
			if ack.PacketID != 8 {
				t.Errorf("UNSUBACK %d, want 8 [MQTT-3.10.4-5]", ack.PacketID)
			}
			var want []packet.ReasonCode
			if v == v5 {
				want = []packet.ReasonCode{packet.Success, packet.NoSubscriptionExisted, packet.NoSubscriptionExisted, packet.Success}
			}
			if !reflect.DeepEqual(ack.ReasonCodes, want) {
				t.Errorf("UNSUBACK codes %v, want %v [MQTT-3.11.3-1]", ack.ReasonCodes, want)
			}
			// The filter is compared character by character: "a/+" is gone,
			// "b" remains [MQTT-3.10.4-1].
			pub, _, _ := e.connect(v5, "pub")
			r = pub.send(publish(v5, "a/x", "1"))
			if ps := s.recv(r); len(ps) != 0 {
				t.Errorf("unsubscribed filter still delivers [MQTT-3.10.4-2]")
			}
			wantPayloads(t, s.recv(pub.send(publish(v5, "b", "2"))), "2")
			wantPayloads(t, s.recv(pub.send(publish(v5, "c", "3"))))
			// Even when nothing was subscribed, UNSUBACK [MQTT-3.10.4-5].
			ack = one[*packet.Unsuback](t, s.out(s.send(unsubscribe(v, 9, "zzz"))))
			if ack.PacketID != 9 {
				t.Errorf("UNSUBACK %d", ack.PacketID)
			}
		})
	}
}

// Subscriptions of a persistent session outlive its connection; a clean
// one's do not.
func TestSubscriptionsPersist(t *testing.T) {
	e := newEnv(t, session.Config{})
	s, _, _ := e.connect(v5, "s", persistent())
	s.sub(sub("t", 1))
	s.disconnect()
	pub, _, _ := e.connect(v5, "pub")
	pub.send(publish(v5, "t", "m", qos(1, 1)))
	_, _, ps := e.connect(v5, "s", persistent())
	wantPayloads(t, ps, "m")
}

// PINGREQ gets PINGRESP [MQTT-3.12.4-1].
func TestPing(t *testing.T) {
	for _, v := range versions() {
		e := newEnv(t, session.Config{})
		c, _, _ := e.connect(v, "c")
		wantTypes(t, c.out(c.send(pingreq())), packet.PINGRESP)
	}
}

// [MQTT-3.1.2-24] [MQTT-3.1.2-25]: a retained message larger than the
// client's Maximum Packet Size is not sent, and is dropped as if it had
// been: it takes no place in the client's Receive Maximum window.
func TestRetainedTooLarge(t *testing.T) {
	e := newEnv(t, session.Config{})
	pub, _, _ := e.connect(v5, "pub")
	pub.send(publish(v5, "big", string(make([]byte, 300)), retained(), qos(1, 1)))
	pub.send(publish(v5, "small", "s", retained(), qos(1, 2)))
	s, _, _ := e.connect(v5, "s", maxPacket(100), receiveMax(1), persistent())
	ps := s.sub(sub("big", 1), sub("small", 1))
	wantPayloads(t, ps, "s")
	s.send(puback(v5, publishes(ps)[0].PacketID))
	// The window is free for new messages.
	r := pub.send(publish(v5, "small", "n", qos(1, 3)))
	wantPayloads(t, s.recv(r), "n")
	s.send(puback(v5, publishes(s.recv(r))[0].PacketID))
	// And nothing is left to resend.
	s.lost()
	if _, _, ps := e.connect(v5, "s", maxPacket(100), receiveMax(1), persistent()); len(ps) != 0 {
		t.Errorf("reconnect resent %s", describeAll(ps))
	}
}
