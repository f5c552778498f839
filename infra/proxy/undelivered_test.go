package proxy_test

import (
	"sync"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/proxy"
)

// A reply's delivery for a connection of this proxy that is gone (a
// cached location naming a client's old connection) goes back to the
// handlers as a KindUndelivered event, and what they answer (the same
// message for the client's current connection) is written: the message
// is not lost (issue 15, item 1). Deliveries whose connection is there
// raise no such event.
func TestReplyDeliveryToGoneConnectionHandedBack(t *testing.T) {
	var mu sync.Mutex
	conns := map[string]string{} // client id -> connection id
	var back [][]session.Delivery
	pub, _ := (&packet.Publish{Topic: "t", Payload: []byte("m1")}).Append(nil, packet.V311)
	inv := &fakeInvoker{reply: func(ev *session.Event) (*session.Reply, error) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case ev.Kind == session.KindPackets && ev.State == nil:
			p, err := packet.Decode(ev.Packets[0], packet.V311)
			if err != nil {
				t.Error(err)
				return nil, err
			}
			id := p.(*packet.Connect).ClientID
			conns[id] = ev.Conn
			ack, _ := (&packet.Connack{}).Append(nil, packet.V311)
			return &session.Reply{Packets: [][]byte{ack}, State: &session.ConnState{ClientID: id, Version: packet.V311}}, nil
		case ev.Kind == session.KindPackets:
			// The publisher's PUBLISH: routed to x's old connection on
			// this proxy, as a stale cached location would, and to y's
			// current one.
			return &session.Reply{Deliveries: []session.Delivery{
				{Proxy: "p1", Conn: "old-x", Client: "x", Packets: [][]byte{pub}},
				{Proxy: "p1", Conn: conns["y"], Client: "y", Packets: [][]byte{pub}},
			}}, nil
		case ev.Kind == session.KindUndelivered:
			back = append(back, ev.Deliveries)
			if ev.Proxy != "p1" {
				t.Errorf("undelivered event from proxy %q, want p1", ev.Proxy)
			}
			return &session.Reply{Deliveries: []session.Delivery{{Proxy: "p1", Conn: conns["x"], Client: "x", Packets: ev.Deliveries[0].Packets}}}, nil
		}
		return &session.Reply{}, nil
	}}
	_, addr := start(t, inv, proxy.Config{})
	connect := func(id string) *client {
		c := dial(t, addr, packet.V311)
		c.send(&packet.Connect{ClientID: id, Version: packet.V311})
		c.expect(packet.CONNACK)
		return c
	}
	x, y, p := connect("x"), connect("y"), connect("p")
	p.send(&packet.Publish{Topic: "t", Payload: []byte("m1")})
	for _, c := range []*client{x, y} {
		if got := c.expect(packet.PUBLISH).(*packet.Publish); string(got.Payload) != "m1" {
			t.Fatalf("payload %q, want m1", got.Payload)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(back) != 1 || len(back[0]) != 1 || back[0][0].Conn != "old-x" || back[0][0].Client != "x" {
		t.Fatalf("handed back %+v, want the one delivery to old-x", back)
	}
}

// Deliveries the handlers route to a gone connection again and again are
// handed back a bounded number of times, then dropped: no loop.
func TestUndeliveredRoundsBounded(t *testing.T) {
	var mu sync.Mutex
	rounds := 0
	pub, _ := (&packet.Publish{Topic: "t", Payload: []byte("m")}).Append(nil, packet.V311)
	stale := []session.Delivery{{Proxy: "p1", Conn: "old", Client: "x", Packets: [][]byte{pub}}}
	connect := acceptConnect(packet.V311, 0, 0)
	inv := &fakeInvoker{reply: func(ev *session.Event) (*session.Reply, error) {
		switch {
		case ev.Kind == session.KindUndelivered:
			mu.Lock()
			rounds++
			mu.Unlock()
			return &session.Reply{Deliveries: stale}, nil
		case ev.Kind == session.KindPackets && ev.State != nil:
			return &session.Reply{Deliveries: stale}, nil
		}
		return connect(ev)
	}}
	_, addr := start(t, inv, proxy.Config{})
	c := dial(t, addr, packet.V311)
	c.send(&packet.Connect{ClientID: "p", Version: packet.V311})
	c.expect(packet.CONNACK)
	c.send(&packet.Publish{Topic: "t", Payload: []byte("m")})
	eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return rounds >= 2 })
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if rounds != 2 {
		t.Fatalf("%d undelivered events for one stale delivery, want 2", rounds)
	}
}
