package proxy_test

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/proxy"
)

// v2Connect accepts the CONNECT with a delivery v2 window following
// sub-stream "t" from offset 0, with two entries: a QoS 2 message and a
// QoS 1 one. Positions events are answered saved when save says so.
func v2Connect(t *testing.T, plan session.PIDPlan, save bool) func(ev *session.Event) (*session.Reply, error) {
	return func(ev *session.Event) (*session.Reply, error) {
		switch {
		case ev.Kind == session.KindPositions:
			return &session.Reply{Stream: &session.StreamWork{Saved: save}}, nil
		case ev.State == nil && ev.Kind == session.KindPackets:
			ack, _ := (&packet.Connack{}).Append(nil, packet.V311)
			id := session.StreamID{Filter: "t"}
			return &session.Reply{Packets: [][]byte{ack},
				State: &session.ConnState{ClientID: "c", Version: packet.V311, KeepAlive: 60},
				Stream: &session.StreamWork{
					Window: &session.WindowSpec{Plan: plan, Max: 20, Hold: 16},
					Follows: []session.Follow{{Stream: id, Sub: session.Subscription{ClientID: "c", Filter: "t", QoS: 2}, Head: 2,
						Entries: []session.StreamEntry{
							{Offset: 1, Message: session.Message{Topic: "t", Payload: []byte("two"), QoS: 2}},
							{Offset: 2, Message: session.Message{Topic: "t", Payload: []byte("one"), QoS: 1}},
						}}},
				}}, nil
		}
		return &session.Reply{}, nil
	}
}

// The window's acknowledgements stay in the proxy, and a PUBREL is written
// only after the positions holding its release are saved [MQTT-4.4.0-1].
func TestWindowAcksAndPubrelAfterSave(t *testing.T) {
	plan, err := session.NewPIDPlan(20, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	inv := &fakeInvoker{}
	inv.reply = v2Connect(t, plan, true)
	_, addr := start(t, inv, proxy.Config{})
	c := dial(t, addr, packet.V311)
	c.send(&packet.Connect{ClientID: "c", KeepAlive: 60, CleanStart: true})
	c.expect(packet.CONNACK)
	p2 := c.expect(packet.PUBLISH).(*packet.Publish)
	p1 := c.expect(packet.PUBLISH).(*packet.Publish)
	if string(p2.Payload) != "two" || p2.PacketID != plan.ID(0, 1) || p1.PacketID != plan.ID(0, 2) {
		t.Fatalf("PUBLISH %q under %d then %d, want offsets 1 and 2 under %d and %d", p2.Payload, p2.PacketID, p1.PacketID, plan.ID(0, 1), plan.ID(0, 2))
	}
	c.send(&packet.Puback{PacketID: p1.PacketID})
	c.send(&packet.Pubrec{PacketID: p2.PacketID})
	rel := c.expect(packet.PUBREL).(*packet.Pubrel)
	if rel.PacketID != p2.PacketID {
		t.Fatalf("PUBREL %d, want %d", rel.PacketID, p2.PacketID)
	}
	var saved *session.Event
	for _, ev := range inv.snapshot() {
		if ev.Kind == session.KindPackets && ev.State != nil {
			t.Errorf("the handlers were sent %d frames after CONNECT; the window's acknowledgements are the proxy's", len(ev.Packets))
		}
		if ev.Kind == session.KindPositions {
			saved = &ev
		}
	}
	if saved == nil || len(saved.Positions) != 1 || saved.Positions[0].Position.Acked != 0 ||
		len(saved.Positions[0].Position.Released) != 1 || saved.Positions[0].Position.Released[0] != 1 {
		t.Fatalf("positions saved before the PUBREL: %+v, want offset 1 released", saved)
	}
}

// A PUBREL whose positions could not be saved is not written: the
// connection is closed, and a reconnect gets the PUBLISH again.
func TestWindowPubrelNotWrittenUnsaved(t *testing.T) {
	plan, err := session.NewPIDPlan(20, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	inv := &fakeInvoker{}
	inv.reply = v2Connect(t, plan, false)
	_, addr := start(t, inv, proxy.Config{})
	c := dial(t, addr, packet.V311)
	c.send(&packet.Connect{ClientID: "c", KeepAlive: 60, CleanStart: true})
	c.expect(packet.CONNACK)
	p2 := c.expect(packet.PUBLISH).(*packet.Publish)
	c.expect(packet.PUBLISH)
	c.send(&packet.Pubrec{PacketID: p2.PacketID})
	for {
		p, err := c.read(3 * time.Second)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("connection still open")
			}
			return
		}
		if p.Type() == packet.PUBREL {
			t.Fatal("PUBREL written though its release was not saved")
		}
	}
}

// snapshot returns the events received so far.
func (f *fakeInvoker) snapshot() []session.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]session.Event(nil), f.events...)
}

// A gap the deliveries do not fill (the follow's head is past the entries
// it came with) is read with a catch-up after OrderWait, and its entries
// written in order.
func TestWindowCatchUp(t *testing.T) {
	plan, err := session.NewPIDPlan(20, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	id := session.StreamID{Filter: "t"}
	msg := func(o uint64) session.StreamEntry {
		return session.StreamEntry{Offset: o, Message: session.Message{Topic: "t", Payload: []byte{'0' + byte(o)}, QoS: 1}}
	}
	inv := &fakeInvoker{}
	inv.reply = func(ev *session.Event) (*session.Reply, error) {
		switch {
		case ev.Kind == session.KindCatchUp:
			if len(ev.Gaps) != 1 || ev.Gaps[0].Stream != id || ev.Gaps[0].After != 1 {
				t.Errorf("catch-up of %+v, want %v after 1", ev.Gaps, id)
				return &session.Reply{}, nil
			}
			return &session.Reply{Stream: &session.StreamWork{Entries: []session.StreamDelivery{
				{Stream: id, Entries: []session.StreamEntry{msg(2), msg(3)}}}}}, nil
		case ev.State == nil && ev.Kind == session.KindPackets:
			ack, _ := (&packet.Connack{}).Append(nil, packet.V311)
			return &session.Reply{Packets: [][]byte{ack},
				State: &session.ConnState{ClientID: "c", Version: packet.V311, KeepAlive: 60},
				Stream: &session.StreamWork{
					Window: &session.WindowSpec{Plan: plan, Max: 20, Hold: 16},
					Follows: []session.Follow{{Stream: id, Sub: session.Subscription{ClientID: "c", Filter: "t", QoS: 1}, Head: 3,
						Entries: []session.StreamEntry{msg(1)}}},
				}}, nil
		}
		return &session.Reply{Stream: &session.StreamWork{Saved: true}}, nil
	}
	_, addr := start(t, inv, proxy.Config{OrderWait: 50 * time.Millisecond})
	c := dial(t, addr, packet.V311)
	c.send(&packet.Connect{ClientID: "c", KeepAlive: 60, CleanStart: true})
	c.expect(packet.CONNACK)
	for _, want := range []string{"1", "2", "3"} {
		p := c.expect(packet.PUBLISH).(*packet.Publish)
		if string(p.Payload) != want {
			t.Fatalf("PUBLISH %q, want %q", p.Payload, want)
		}
	}
}

// Acknowledged positions are saved within PositionSave of the first
// unsaved one, without waiting for more acknowledgements or the end.
func TestWindowSavesWithinPositionSave(t *testing.T) {
	plan, err := session.NewPIDPlan(20, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	inv := &fakeInvoker{}
	inv.reply = v2Connect(t, plan, true)
	_, addr := start(t, inv, proxy.Config{PositionSave: 50 * time.Millisecond})
	c := dial(t, addr, packet.V311)
	c.send(&packet.Connect{ClientID: "c", KeepAlive: 60, CleanStart: true})
	c.expect(packet.CONNACK)
	c.expect(packet.PUBLISH)
	p1 := c.expect(packet.PUBLISH).(*packet.Publish)
	c.send(&packet.Puback{PacketID: p1.PacketID}) // offset 2: done above a QoS 2 in flight
	eventually(t, func() bool {
		for _, ev := range inv.snapshot() {
			if ev.Kind == session.KindPositions {
				return true
			}
		}
		return false
	})
}

// A session migrating from delivery v1: the window starts paused, so only
// v1's resent PUBLISH goes out; its PUBACK, under an identifier of the
// plan's slots that the window has not in flight, goes to the handlers,
// whose Resume lets the window's entry go [MQTT-4.4.0-1] [MQTT-4.6.0-6].
func TestWindowPausedForV1(t *testing.T) {
	plan, err := session.NewPIDPlan(20, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	const v1pid = 50 // assigned by v1 from the whole space: a slot of plan's
	id := session.StreamID{Filter: "t"}
	inv := &fakeInvoker{}
	var acked bool
	inv.reply = func(ev *session.Event) (*session.Reply, error) {
		switch {
		case ev.State == nil && ev.Kind == session.KindPackets:
			ack, _ := (&packet.Connack{SessionPresent: true}).Append(nil, packet.V311)
			old, _ := (&packet.Publish{Topic: "t", QoS: 1, PacketID: v1pid, Dup: true, Payload: []byte("v1")}).Append(nil, packet.V311)
			return &session.Reply{Packets: [][]byte{ack, old},
				State: &session.ConnState{ClientID: "c", Version: packet.V311, KeepAlive: 60, HoldStreams: true},
				Stream: &session.StreamWork{
					Window: &session.WindowSpec{Plan: plan, Max: 20, Hold: 16, Paused: true},
					Follows: []session.Follow{{Stream: id, Sub: session.Subscription{ClientID: "c", Filter: "t", QoS: 1}, Head: 1,
						Entries: []session.StreamEntry{{Offset: 1, Message: session.Message{Topic: "t", Payload: []byte("v2"), QoS: 1}}}}},
				}}, nil
		case ev.Kind == session.KindPackets:
			for _, f := range ev.Packets {
				var p packet.Puback
				if len(f) > 0 && packet.Type(f[0]>>4) == packet.PUBACK && p.Decode(f, packet.V311) == nil && p.PacketID == v1pid {
					inv.mu.Lock()
					acked = true
					inv.mu.Unlock()
					st := *ev.State
					st.HoldStreams = false
					return &session.Reply{State: &st, Stream: &session.StreamWork{Resume: true}}, nil
				}
			}
		}
		return &session.Reply{Stream: &session.StreamWork{Saved: true}}, nil
	}
	_, addr := start(t, inv, proxy.Config{})
	c := dial(t, addr, packet.V311)
	c.send(&packet.Connect{ClientID: "c", KeepAlive: 60})
	c.expect(packet.CONNACK)
	if p := c.expect(packet.PUBLISH).(*packet.Publish); string(p.Payload) != "v1" || p.PacketID != v1pid {
		t.Fatalf("PUBLISH %q under %d, want v1's under %d", p.Payload, p.PacketID, v1pid)
	}
	if p, err := c.read(200 * time.Millisecond); err == nil {
		t.Fatalf("got %s while the window is paused", p.Type())
	}
	c.send(&packet.Puback{PacketID: v1pid})
	if p := c.expect(packet.PUBLISH).(*packet.Publish); string(p.Payload) != "v2" || p.PacketID != plan.ID(0, 1) {
		t.Fatalf("PUBLISH %q under %d after the resume, want the stream's under %d", p.Payload, p.PacketID, plan.ID(0, 1))
	}
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if !acked {
		t.Fatal("v1's PUBACK did not reach the handlers")
	}
}
