package session_test

import (
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
)

// placed returns, for each QoS 1 or 2 PUBLISH of frames, its payload and
// the Order that places it, and the skips, failing when a PUBLISH has no
// Order.
func placed(t *testing.T, v packet.Version, frames [][]byte, order []session.Order) (map[string]session.Order, []session.Order) {
	t.Helper()
	byPID := map[uint16]session.Order{}
	var skips []session.Order
	for _, o := range order {
		if o.Skip {
			skips = append(skips, o)
			continue
		}
		byPID[o.PacketID] = o
	}
	out := map[string]session.Order{}
	for _, p := range ofType[*packet.Publish](decodeAll(t, v, frames)) {
		o, ok := byPID[p.PacketID]
		if !ok {
			t.Fatalf("PUBLISH %q (packet id %d) has no Order", p.Payload, p.PacketID)
		}
		out[string(p.Payload)] = o
	}
	return out, skips
}

// The publisher's call and the subscriber's own call both hand out the
// subscriber's messages; every QoS 1 frame names the one put in flight
// before it, so that the proxy writes them in order whichever call's
// reply comes first [MQTT-4.6.0-6]. A message handed out but not sent
// (expired while queued) takes its place as a skip.
func TestOrderChainsAcrossCalls(t *testing.T) {
	e := newEnv(t, session.Config{})
	s := e.open(v5)
	s.send(connect(v5, "sub", receiveMax(2)))
	s.send(subscribe(v5, 1, sub("t", 1)))
	p := e.open(v5)
	p.send(connect(v5, "pub"))

	r := p.send(publish(v5, "t", "m1", qos(1, 1)), publish(v5, "t", "m2", qos(1, 2)))
	var d session.Delivery
	for _, x := range r.Deliveries {
		if x.Conn == s.id {
			d = x
		}
	}
	first, _ := placed(t, v5, d.Packets, d.Order)
	if len(first) != 2 {
		t.Fatalf("publisher's call handed out %d messages, want m1 and m2", len(first))
	}
	if first["m1"].After != 0 || first["m2"].After != first["m1"].Seq {
		t.Fatalf("m1 %+v, m2 %+v: want m1 After 0 and m2 After m1", first["m1"], first["m2"])
	}
	// The window (2) is full: m3 and m4 wait in the queue.
	p.send(publish(v5, "t", "m3", qos(1, 3)))
	p.send(publish(v5, "t", "m4", qos(1, 4), msgExpiry(1)))
	p.send(publish(v5, "t", "m5", qos(1, 5)))

	// The subscriber acknowledges m1: its own call hands out m3, which
	// must follow m2, still in flight (and perhaps not yet written).
	pubs := ofType[*packet.Publish](decodeAll(t, v5, d.Packets))
	r = s.send(mustEncode(&packet.Puback{PacketID: pubs[0].PacketID}, v5))
	own, _ := placed(t, v5, r.Packets, r.Order)
	if o, ok := own["m3"]; !ok || o.After != first["m2"].Seq {
		t.Fatalf("the subscriber's call placed m3 as %+v (present %v), want After m2 (seq %d)", o, ok, first["m2"].Seq)
	}

	m3 := own["m3"].Seq

	// m4 expires in the queue: acknowledging m2 hands it out unsent, as a
	// skip after m3; m5 follows m3 (m4 left flight before m5 went in).
	e.clock.Advance(2 * time.Second)
	r = s.send(mustEncode(&packet.Puback{PacketID: pubs[1].PacketID}, v5))
	own, skips := placed(t, v5, r.Packets, r.Order)
	if len(skips) != 1 || skips[0].After != m3 {
		t.Fatalf("skips %+v: want one, for m4, After m3 (seq %d)", skips, m3)
	}
	if o, ok := own["m5"]; !ok || (o.After != m3 && o.After != skips[0].Seq) {
		t.Fatalf("m5 placed as %+v (present %v), want After m3 or m4", o, ok)
	}
	if _, sent := own["m4"]; sent {
		t.Fatal("expired m4 was sent")
	}
}
