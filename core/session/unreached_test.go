package session_test

import (
	"context"
	"slices"
	"testing"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
)

// QoS 1 and 2 messages whose delivery never reached the proxy of a
// connection that still holds the session (a refused request, a proxy
// that could not be reached) leave the window and go back to the queue:
// after as many such failures as the window holds, the session still
// gets its messages, each once, under identifiers the client never saw
// (issue 15, item 3).
func TestUnreachedRequeued(t *testing.T) {
	for _, q := range []byte{1, 2} {
		t.Run(string(rune('0'+q)), func(t *testing.T) {
			e := newEnv(t, session.Config{})
			s, _, _ := e.connectOn("proxy-2", v5, "s", persistent(), receiveMax(2))
			s.sub(sub("t", q))
			pub, _, _ := e.connect(v5, "pub")
			// Two failures, each of a delivery that filled the window.
			for round := range 2 {
				r := pub.send(publish(v5, "t", string(rune('a'+2*round)), qos(q, uint16(10+2*round))),
					publish(v5, "t", string(rune('b'+2*round)), qos(q, uint16(11+2*round))))
				if got := publishes(s.recv(r)); len(got) != 2 {
					t.Fatalf("round %d: %d messages sent, want 2 (the window)", round, len(got))
				}
				if again, err := e.handler().Unreached(context.Background(), r.Deliveries); err != nil || len(again.Deliveries) != 0 {
					t.Fatalf("Unreached = %+v, %v; want nothing to send now", again, err)
				}
				inflight, err := e.store.Inflight(context.Background(), "s")
				if err != nil || len(inflight) != 0 {
					t.Fatalf("in flight after Unreached: %d, %v; want none", len(inflight), err)
				}
			}
			// The next message dispatches: what was put back goes out,
			// oldest first, as the window allows.
			r := pub.send(publish(v5, "t", "e", qos(q, 20)))
			got := map[string]int{}
			ps := publishes(s.recv(r))
			for len(ps) > 0 {
				var acks [][]byte
				for _, p := range ps {
					got[string(p.Payload)]++
					if p.Dup {
						t.Errorf("%q sent with DUP; it was never sent", p.Payload)
					}
					if q == 1 {
						acks = append(acks, puback(v5, p.PacketID))
					} else {
						acks = append(acks, pubrec(v5, p.PacketID), pubcomp(v5, p.PacketID))
					}
				}
				ps = publishes(s.out(s.send(acks...)))
			}
			var keys []string
			for k, n := range got {
				keys = append(keys, k)
				if n != 1 {
					t.Errorf("%q arrived %d times, want once", k, n)
				}
			}
			slices.Sort(keys)
			if !slices.Equal(keys, []string{"a", "b", "c", "d", "e"}) {
				t.Errorf("arrived %q, want a to e", keys)
			}
		})
	}
}

// When the session has moved to another connection, or gone offline,
// Unreached does what Undelivered does: the in-flight message goes to the
// new connection with DUP under its identifier [MQTT-4.4.0-1]; offline,
// it stays in flight for the next connection.
func TestUnreachedAfterMove(t *testing.T) {
	e := newEnv(t, session.Config{})
	s, _, _ := e.connectOn("proxy-2", v5, "s", persistent())
	s.sub(sub("t", 1))
	pub, _, _ := e.connect(v5, "pub")
	r := pub.send(publish(v5, "t", "one", qos(1, 7)))
	first := publishes(s.recv(r))
	s2, _, _ := e.connectOn("proxy-3", v5, "s", persistent())
	again, err := e.handler().Unreached(context.Background(), r.Deliveries)
	if err != nil {
		t.Fatal(err)
	}
	ps := publishes(s2.recv(again))
	if len(ps) != 1 || !ps[0].Dup || ps[0].PacketID != first[0].PacketID {
		t.Fatalf("new connection got %v, want the message with DUP under packet id %d", ps, first[0].PacketID)
	}
	s2.lost()
	if again, err := e.handler().Unreached(context.Background(), r.Deliveries); err != nil || len(again.Deliveries) != 0 {
		t.Fatalf("offline: Unreached = %+v, %v; want nothing", again, err)
	}
	_, _, resumed := e.connectOn("proxy-3", v5, "s", persistent())
	if p := one[*packet.Publish](t, resumed); !p.Dup || string(p.Payload) != "one" {
		t.Fatalf("on reconnect got %s, want the in-flight message with DUP", describe(p))
	}
}
