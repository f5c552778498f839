package proxy_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/proxy"
)

// slowSaves answers the CONNECT with a window following sub-stream "t"
// from offset 0 with n entries at qos, and holds each KindPositions event
// until the test lets it go: saves gets the event when it begins, release
// ends one (a closed release ends them all).
func slowSaves(t *testing.T, plan session.PIDPlan, qos byte, n int) (inv *fakeInvoker, saves chan session.Event, release chan struct{}) {
	saves, release = make(chan session.Event, 64), make(chan struct{})
	t.Cleanup(func() { close(release) })
	id := session.StreamID{Filter: "t"}
	entries := make([]session.StreamEntry, n)
	for i := range entries {
		entries[i] = session.StreamEntry{Offset: uint64(i + 1), Message: session.Message{Topic: "t", Payload: []byte(strconv.Itoa(i + 1)), QoS: qos}}
	}
	inv = &fakeInvoker{}
	inv.reply = func(ev *session.Event) (*session.Reply, error) {
		switch {
		case ev.Kind == session.KindPositions:
			saves <- *ev
			<-release
			return &session.Reply{Stream: &session.StreamWork{Saved: true}}, nil
		case ev.State == nil && ev.Kind == session.KindPackets:
			return windowConnack(session.WindowSpec{Plan: plan, Max: 20, Hold: 64}, id, qos, uint64(n), entries), nil
		}
		return &session.Reply{}, nil
	}
	return inv, saves, release
}

// windowConnack is the reply to client "c"'s CONNECT (3.1.1) that starts
// a window of spec following sub-stream id of filter "t" at qos, whose
// head is head, with entries.
func windowConnack(spec session.WindowSpec, id session.StreamID, qos byte, head uint64, entries []session.StreamEntry) *session.Reply {
	ack, _ := (&packet.Connack{}).Append(nil, packet.V311)
	return &session.Reply{Packets: [][]byte{ack},
		State: &session.ConnState{ClientID: "c", Version: packet.V311, KeepAlive: 60},
		Stream: &session.StreamWork{
			Window: &spec,
			Follows: []session.Follow{{Stream: id, Sub: session.Subscription{ClientID: "c", Filter: "t", QoS: qos},
				Head: head, Entries: entries}},
		}}
}

// expectPublishes reads n PUBLISH frames, the next payloads from *next on.
func expectPublishes(t *testing.T, c *client, next *int, n int) []*packet.Publish {
	t.Helper()
	out := make([]*packet.Publish, n)
	for i := range out {
		p := c.expect(packet.PUBLISH).(*packet.Publish)
		if want := strconv.Itoa(*next); string(p.Payload) != want {
			t.Fatalf("PUBLISH %q, want %q", p.Payload, want)
		}
		*next++
		out[i] = p
	}
	return out
}

// A position save on its way does not hold back the connection: the
// acknowledgements that come meanwhile let the next messages go. (On the
// serverless stack a save is an invocation of tens to hundreds of ms,
// during which the reader read nothing.)
func TestWindowAcksWhileSaving(t *testing.T) {
	plan, err := session.NewPIDPlan(20, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	inv, saves, release := slowSaves(t, plan, 1, 45)
	_, addr := start(t, inv, proxy.Config{})
	c := dial(t, addr, packet.V311)
	c.send(&packet.Connect{ClientID: "c", KeepAlive: 60, CleanStart: true})
	c.expect(packet.CONNACK)
	next := 1
	for _, p := range expectPublishes(t, c, &next, 20) {
		c.send(&packet.Puback{PacketID: p.PacketID})
	}
	select {
	case <-saves: // the 20th acknowledgement: a save begins, and waits
	case <-time.After(2 * time.Second):
		t.Fatal("no save after 20 acknowledgements")
	}
	for _, p := range expectPublishes(t, c, &next, 20) {
		c.send(&packet.Puback{PacketID: p.PacketID})
	}
	expectPublishes(t, c, &next, 5) // while the save still waits
	release <- struct{}{}
}

// The PUBRECs that come while a save is on its way share the next save,
// and each PUBREL is written only once a save holding its release
// succeeded [MQTT-4.4.0-1], in the order of the PUBRECs [MQTT-4.6.0-3].
func TestWindowPubrecsShareASave(t *testing.T) {
	plan, err := session.NewPIDPlan(20, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	inv, saves, release := slowSaves(t, plan, 2, 4)
	_, addr := start(t, inv, proxy.Config{})
	c := dial(t, addr, packet.V311)
	c.send(&packet.Connect{ClientID: "c", KeepAlive: 60, CleanStart: true})
	c.expect(packet.CONNACK)
	next := 1
	ps := expectPublishes(t, c, &next, 4)
	c.send(&packet.Pubrec{PacketID: ps[0].PacketID})
	released := func(ev session.Event) []uint64 {
		if len(ev.Positions) != 1 {
			t.Fatalf("positions %+v, want one sub-stream", ev.Positions)
		}
		return ev.Positions[0].Position.Released
	}
	first := <-saves
	if r := released(first); len(r) != 1 || r[0] != 1 {
		t.Fatalf("first save releases %v, want [1]", r)
	}
	for _, p := range ps[1:] {
		c.send(&packet.Pubrec{PacketID: p.PacketID})
	}
	// The proxy answers PINGREQ after taking what came before it: the
	// reader is not waiting for the save.
	c.send(&packet.Pingreq{})
	c.expect(packet.PINGRESP)
	release <- struct{}{}
	if rel := c.expect(packet.PUBREL).(*packet.Pubrel); rel.PacketID != ps[0].PacketID {
		t.Fatalf("PUBREL %d, want %d", rel.PacketID, ps[0].PacketID)
	}
	second := <-saves
	if r := released(second); len(r) != 4 {
		t.Fatalf("second save releases %v, want offsets 1 to 4", r)
	}
	if p, err := c.read(200 * time.Millisecond); err == nil {
		t.Fatalf("got %s before the save of the releases it answers", p.Type())
	}
	release <- struct{}{}
	for _, p := range ps[1:] {
		if rel := c.expect(packet.PUBREL).(*packet.Pubrel); rel.PacketID != p.PacketID {
			t.Fatalf("PUBREL %d, want %d (the PUBRECs' order)", rel.PacketID, p.PacketID)
		}
	}
	select {
	case ev := <-saves:
		t.Fatalf("a third save for 4 PUBRECs: %+v", ev.Positions)
	case <-time.After(100 * time.Millisecond):
	}
}

// A new follow is read once after OrderWait (a message appended while it
// was set up reaches no delivery), even when a save is on its way then.
func TestWindowProbeWhileSaving(t *testing.T) {
	plan, err := session.NewPIDPlan(20, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	inv, saves, release := slowSaves(t, plan, 1, 1)
	connect := inv.reply
	id := session.StreamID{Filter: "t"}
	inv.reply = func(ev *session.Event) (*session.Reply, error) {
		if ev.Kind == session.KindCatchUp && len(ev.Gaps) == 1 && ev.Gaps[0].After == 1 {
			return &session.Reply{Stream: &session.StreamWork{Entries: []session.StreamDelivery{{Stream: id,
				Entries: []session.StreamEntry{{Offset: 2, Message: session.Message{Topic: "t", Payload: []byte("2"), QoS: 1}}}}}}}, nil
		}
		return connect(ev)
	}
	_, addr := start(t, inv, proxy.Config{PositionSave: 10 * time.Millisecond, OrderWait: 100 * time.Millisecond})
	c := dial(t, addr, packet.V311)
	c.send(&packet.Connect{ClientID: "c", KeepAlive: 60, CleanStart: true})
	c.expect(packet.CONNACK)
	next := 1
	p := expectPublishes(t, c, &next, 1)[0]
	c.send(&packet.Puback{PacketID: p.PacketID})
	<-saves // within PositionSave: on its way past OrderWait
	time.Sleep(300 * time.Millisecond)
	release <- struct{}{}
	expectPublishes(t, c, &next, 1)
}
