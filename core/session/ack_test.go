package session_test

import (
	"fmt"
	"testing"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
)

// outbound sets up a subscriber s (QoS q on "t") with the given window and
// a publisher that has sent n QoS 2 messages "0".."n-1" to it. It returns
// both and the PUBLISH packets s got.
func outbound(t *testing.T, e *env, v packet.Version, q byte, window uint16, n int) (s, pub *conn, got []*packet.Publish) {
	t.Helper()
	var opts []connectOpt
	if v == v5 {
		opts = append(opts, receiveMax(window), persistent())
	} else {
		opts = append(opts, resume())
	}
	s, _, _ = e.connectOn("proxy-S", v, "s", opts...)
	s.sub(sub("t", q))
	pub, _, _ = e.connect(v5, "pub")
	for i := range n {
		r := pub.send(publish(v5, "t", fmt.Sprint(i), qos(2, uint16(i+1))))
		got = append(got, publishes(s.recv(r))...)
	}
	return s, pub, got
}

// [MQTT-3.3.4-9]: the server sends no more than the client's Receive
// Maximum of QoS 1 and 2 messages unacknowledged; acknowledgements open the
// window to the queued ones, in order.
func TestReceiveMaximumWindow(t *testing.T) {
	cases := []struct {
		name   string
		spec   string
		v      packet.Version
		cfg    session.Config
		q      byte
		window uint16
	}{
		{name: "5.0 QoS 1", spec: "[MQTT-3.3.4-9]", v: v5, q: 1, window: 2},
		{name: "5.0 QoS 2", spec: "[MQTT-3.3.4-9]", v: v5, q: 2, window: 2},
		{name: "5.0 window 1", spec: "[MQTT-3.3.4-9]", v: v5, q: 1, window: 1},
		{name: "3.1.1 MaxInflight", spec: "4.9 (Config.MaxInflight)", v: v311, cfg: session.Config{MaxInflight: 2}, q: 1, window: 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.cfg)
			const n = 5
			s, pub, got := outbound(t, e, tc.v, tc.q, tc.window, n)
			if len(got) != int(tc.window) {
				t.Fatalf("got %d messages in flight, want %d %s", len(got), tc.window, tc.spec)
			}
			ids := map[uint16]bool{}
			var all []string
			for _, p := range got {
				ids[p.PacketID] = true
				all = append(all, string(p.Payload))
			}
			if len(ids) != len(got) {
				t.Errorf("packet identifiers reused among in-flight messages [MQTT-2.2.1-4]")
			}
			// A QoS 0 message is not held back by the window.
			r := pub.send(publish(v5, "t", "q0"))
			wantPayloads(t, s.recv(r), "q0")
			inflight := got
			for len(inflight) > 0 {
				p := inflight[0]
				inflight = inflight[1:]
				var r *session.Reply
				if tc.q == 1 {
					r = s.send(puback(tc.v, p.PacketID))
				} else {
					ps := s.out(s.send(pubrec(tc.v, p.PacketID)))
					if rel := one[*packet.Pubrel](t, ps); rel.PacketID != p.PacketID || rel.ReasonCode != packet.Success {
						t.Fatalf("PUBREC answered with %s [MQTT-4.3.3-4]", describe(rel))
					}
					// one[] above: still in flight until PUBCOMP, so nothing new
					// yet [MQTT-4.3.3-5].
					r = s.send(pubcomp(tc.v, p.PacketID))
				}
				next := publishes(s.out(r))
				if len(next) > 1 {
					t.Fatalf("one acknowledgement released %d messages", len(next))
				}
				for _, q := range next {
					// A completed message's identifier may be reused; one
					// still in flight may not [MQTT-2.2.1-4].
					if contains(inflight, q.PacketID) {
						t.Errorf("packet identifier %d in use [MQTT-2.2.1-4]", q.PacketID)
					}
					if q.Dup {
						t.Errorf("first delivery with DUP [MQTT-4.3.2-2]")
					}
					inflight = append(inflight, q)
					all = append(all, string(q.Payload))
				}
				if len(inflight) > int(tc.window) {
					t.Fatalf("%d in flight, window %d", len(inflight), tc.window)
				}
			}
			want := []string{"0", "1", "2", "3", "4"}
			if fmt.Sprint(all) != fmt.Sprint(want) {
				t.Errorf("delivered %v, want %v in order [MQTT-4.6.0-6]", all, want)
			}
		})
	}
}

func contains(ps []*packet.Publish, id uint16) bool {
	for _, p := range ps {
		if p.PacketID == id {
			return true
		}
	}
	return false
}

// Acknowledgements for messages the server sent (sections 4.3.2, 4.3.3).
func TestServerAcks(t *testing.T) {
	cases := []struct {
		name string
		spec string
		v    packet.Version
		q    byte
		// send gets the in-flight message and returns the frames the client
		// sends; want is what the server answers to the last of them.
		send func(p *packet.Publish, v packet.Version) [][]byte
		want []packet.Packet
	}{
		{name: "PUBACK", spec: "[MQTT-4.3.2-3]", v: v5, q: 1,
			send: func(p *packet.Publish, v packet.Version) [][]byte { return [][]byte{puback(v, p.PacketID)} }},
		{name: "PUBACK twice", spec: "[MQTT-4.3.2-3]", v: v5, q: 1,
			send: func(p *packet.Publish, v packet.Version) [][]byte {
				return [][]byte{puback(v, p.PacketID), puback(v, p.PacketID)}
			}},
		{name: "PUBACK unknown", spec: "4.3.2", v: v5, q: 1,
			send: func(p *packet.Publish, v packet.Version) [][]byte { return [][]byte{puback(v, 999)} }},
		{name: "PUBREC", spec: "[MQTT-4.3.3-4]", v: v5, q: 2,
			send: func(p *packet.Publish, v packet.Version) [][]byte { return [][]byte{pubrec(v, p.PacketID)} },
			want: []packet.Packet{&packet.Pubrel{PacketID: 1}}},
		{name: "3.1.1 PUBREC", spec: "[MQTT-4.3.3-4]", v: v311, q: 2,
			send: func(p *packet.Publish, v packet.Version) [][]byte { return [][]byte{pubrec(v, p.PacketID)} },
			want: []packet.Packet{&packet.Pubrel{PacketID: 1}}},
		{name: "PUBREC resent", spec: "[MQTT-4.3.3-4]", v: v5, q: 2,
			send: func(p *packet.Publish, v packet.Version) [][]byte {
				return [][]byte{pubrec(v, p.PacketID), pubrec(v, p.PacketID)}
			},
			want: []packet.Packet{&packet.Pubrel{PacketID: 1}}},
		// Section 3.6.2.1: PUBREL 0x92 for an identifier not in flight.
		{name: "PUBREC unknown", spec: "3.6.2.1 [MQTT-3.6.2-1]", v: v5, q: 2,
			send: func(p *packet.Publish, v packet.Version) [][]byte { return [][]byte{pubrec(v, 999)} },
			want: []packet.Packet{&packet.Pubrel{PacketID: 999, ReasonCode: packet.PacketIdentifierNotFound}}},
		{name: "3.1.1 PUBREC unknown", spec: "3.6.2.1", v: v311, q: 2,
			send: func(p *packet.Publish, v packet.Version) [][]byte { return [][]byte{pubrec(v, 999)} },
			want: []packet.Packet{&packet.Pubrel{PacketID: 999}}},
		// A PUBREC for a QoS 1 message is no QoS 2 exchange.
		{name: "PUBREC for a QoS 1 message", spec: "3.6.2.1 [MQTT-3.6.2-1]", v: v5, q: 1,
			send: func(p *packet.Publish, v packet.Version) [][]byte { return [][]byte{pubrec(v, p.PacketID)} },
			want: []packet.Packet{&packet.Pubrel{PacketID: 1, ReasonCode: packet.PacketIdentifierNotFound}}},
		// [MQTT-4.3.3-4]: no PUBREL after a failing PUBREC, which ends the
		// exchange.
		{name: "PUBREC with an error", spec: "[MQTT-4.3.3-4] [MQTT-4.4.0-2]", v: v5, q: 2,
			send: func(p *packet.Publish, v packet.Version) [][]byte {
				return [][]byte{pubrec(v, p.PacketID, packet.UnspecifiedError)}
			}},
		{name: "PUBCOMP", spec: "[MQTT-4.3.3-5]", v: v5, q: 2,
			send: func(p *packet.Publish, v packet.Version) [][]byte {
				return [][]byte{pubrec(v, p.PacketID), pubcomp(v, p.PacketID)}
			}},
		{name: "PUBCOMP unknown", spec: "4.3.3", v: v5, q: 2,
			send: func(p *packet.Publish, v packet.Version) [][]byte {
				return [][]byte{pubrec(v, p.PacketID), pubcomp(v, 999)}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, session.Config{})
			popt := persistent()
			if tc.v < v5 {
				popt = resume()
			}
			s, _, _ := e.connect(tc.v, "s", popt)
			s.sub(sub("t", tc.q))
			pub, _, _ := e.connect(v5, "pub")
			p := one[*packet.Publish](t, s.recv(pub.send(publish(v5, "t", "m", qos(2, 1)))))
			if p.PacketID != 1 {
				t.Fatalf("first packet identifier %d; the cases assume 1", p.PacketID)
			}
			frames := tc.send(p, tc.v)
			var r *session.Reply
			for _, f := range frames {
				r = s.send(f)
			}
			got := s.out(r)
			if len(got) != len(tc.want) {
				t.Fatalf("got %s, want %s %s", describeAll(got), describeAll(tc.want), tc.spec)
			}
			for i := range got {
				if describe(got[i]) != describe(tc.want[i]) {
					t.Errorf("got %s, want %s %s", describe(got[i]), describe(tc.want[i]), tc.spec)
				}
			}
			if r.Close {
				t.Errorf("connection closed")
			}
		})
	}
}

// [MQTT-4.4.0-1]: on reconnect with a session present the server resends
// unacknowledged PUBLISH packets, with DUP set [MQTT-3.3.1-1] and their
// original packet identifiers, and PUBREL for released ones; then queued
// messages follow.
func TestResend(t *testing.T) {
	for _, v := range versions() {
		t.Run(v.String(), func(t *testing.T) {
			e := newEnv(t, session.Config{MaxInflight: 3})
			s, pub, got := outbound(t, e, v, 2, 3, 5)
			if len(got) != 3 {
				t.Fatalf("%d in flight", len(got))
			}
			// "0" released (PUBREC, no PUBCOMP), "1" and "2" unacknowledged,
			// "3" and "4" queued.
			wantTypes(t, s.out(s.send(pubrec(v, got[0].PacketID))), packet.PUBREL)
			s.lost()
			// Still offline: a sixth message waits too.
			pub.send(publish(v5, "t", "5", qos(2, 6)))
			popt := persistent()
			if v < v5 {
				popt = resume()
			}
			s, ack, ps := e.connect(v, "s", popt, receiveMax(3))
			if !ack.SessionPresent {
				t.Fatal("session not present")
			}
			wantTypes(t, ps, packet.PUBREL, packet.PUBLISH, packet.PUBLISH)
			if rel := as[*packet.Pubrel](t, ps[0]); rel.PacketID != got[0].PacketID {
				t.Errorf("PUBREL %d, want %d", rel.PacketID, got[0].PacketID)
			}
			for i, p := range publishes(ps) {
				want := got[i+1]
				if p.PacketID != want.PacketID || !p.Dup || string(p.Payload) != string(want.Payload) || p.QoS != 2 {
					t.Errorf("resent %s, want %s with DUP [MQTT-4.4.0-1] [MQTT-3.3.1-1]", describe(p), describe(want))
				}
			}
			// Completing "0" opens the window for "3", which is new: no DUP.
			ps = s.out(s.send(pubcomp(v, got[0].PacketID)))
			p := one[*packet.Publish](t, ps)
			if string(p.Payload) != "3" || p.Dup {
				t.Errorf("got %s, want \"3\" without DUP", describe(p))
			}
			// A client that lost the session state is not sent old state:
			// clean start discards it [MQTT-3.1.2-4].
			s.lost()
			_, ack, ps = e.connect(v, "s")
			if ack.SessionPresent || len(ps) != 0 {
				t.Errorf("clean start got %s, session present %v", describeAll(ps), ack.SessionPresent)
			}
		})
	}
}

// A QoS 1 PUBLISH the client never acknowledged is resent once per
// reconnect, not dropped.
func TestResendUntilAcknowledged(t *testing.T) {
	e := newEnv(t, session.Config{})
	s, _, got := outbound(t, e, v5, 1, 10, 1)
	for range 3 {
		s.lost()
		var ps []packet.Packet
		s, _, ps = e.connect(v5, "s", persistent())
		p := one[*packet.Publish](t, ps)
		if p.PacketID != got[0].PacketID || !p.Dup {
			t.Fatalf("resent %s", describe(p))
		}
	}
	s.send(puback(v5, got[0].PacketID))
	s.lost()
	if _, _, ps := e.connect(v5, "s", persistent()); len(ps) != 0 {
		t.Errorf("acknowledged message resent: %s", describeAll(ps))
	}
}
