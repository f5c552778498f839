package proxy_test

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/proxy"
)

// dueStream answers the CONNACK with a window (5 in flight, 8 held)
// following sub-stream "t", whose head is at head, with its first 13
// entries; a KindCatchUp event reads up to 8 entries after each gap from
// the stream, or none when empty is set. It records the catch-ups.
type dueStream struct {
	mu       sync.Mutex
	head     int
	empty    bool
	catchUps []session.Gap
}

func (d *dueStream) entries(after, n int) []session.StreamEntry {
	var out []session.StreamEntry
	for o := after + 1; o <= d.head && len(out) < n; o++ {
		out = append(out, session.StreamEntry{Offset: uint64(o), Message: session.Message{Topic: "t", Payload: []byte(strconv.Itoa(o)), QoS: 1}})
	}
	return out
}

func (d *dueStream) invoker(t *testing.T) *fakeInvoker {
	plan, err := session.NewPIDPlan(5, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	id := session.StreamID{Filter: "t"}
	inv := &fakeInvoker{}
	inv.reply = func(ev *session.Event) (*session.Reply, error) {
		switch {
		case ev.Kind == session.KindCatchUp:
			d.mu.Lock()
			defer d.mu.Unlock()
			var ds []session.StreamDelivery
			for _, g := range ev.Gaps {
				d.catchUps = append(d.catchUps, g)
				if !d.empty {
					ds = append(ds, session.StreamDelivery{Stream: g.Stream, Entries: d.entries(int(g.After), 8)})
				}
			}
			return &session.Reply{Stream: &session.StreamWork{Entries: ds}}, nil
		case ev.Kind == session.KindPositions:
			return &session.Reply{Stream: &session.StreamWork{Saved: true}}, nil
		case ev.State == nil && ev.Kind == session.KindPackets:
			return windowConnack(session.WindowSpec{Plan: plan, Max: 5, Hold: 8}, id, 1, uint64(d.head), d.entries(0, 13)), nil
		}
		return &session.Reply{}, nil
	}
	return inv
}

// connect starts a proxy at -order-wait 1h over d and connects client "c".
func (d *dueStream) connect(t *testing.T) *client {
	_, addr := start(t, d.invoker(t), proxy.Config{OrderWait: time.Hour})
	c := dial(t, addr, packet.V311)
	c.send(&packet.Connect{ClientID: "c", KeepAlive: 60, CleanStart: true})
	c.expect(packet.CONNACK)
	return c
}

// A backlog past the window's hold (100 entries, 13 read at connect, 8
// held) comes through at the client's pace, in order, without waiting
// for -order-wait (an hour here): each time half the hold is free the
// proxy reads on from the last entry held, with an early catch-up that
// takes no missing offset for gone.
func TestWindowReadsLetGoEntriesAtOnce(t *testing.T) {
	d := &dueStream{head: 100}
	c := d.connect(t)
	next := 1
	for range 100 {
		p := expectPublishes(t, c, &next, 1)[0]
		c.send(&packet.Puback{PacketID: p.PacketID})
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.catchUps) == 0 {
		t.Fatal("no catch-up")
	}
	last := uint64(0)
	for _, g := range d.catchUps {
		if !g.Early || g.After < last {
			t.Fatalf("catch-up %+v after one after %d: want early ones, each after the last entry held, ascending", g, last)
		}
		last = g.After
	}
}

// A catch-up that reads nothing is not asked again at every
// acknowledgement: the next waits -order-wait.
func TestWindowDueQuietAfterEmptyRead(t *testing.T) {
	d := &dueStream{head: 100, empty: true}
	c := d.connect(t)
	next := 1
	for range 13 {
		p := expectPublishes(t, c, &next, 1)[0]
		c.send(&packet.Puback{PacketID: p.PacketID})
	}
	if p, err := c.read(300 * time.Millisecond); err == nil {
		t.Fatalf("got %v, want nothing: the stream read nothing more", p)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.catchUps) != 1 {
		t.Fatalf("%d catch-ups, want 1 (the empty read quiets the next for -order-wait)", len(d.catchUps))
	}
}
