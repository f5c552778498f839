package session_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
)

// Delivery v2's handler half (v2.go): what the handlers append, send and
// tell the proxy's window.

func newV2Env(t *testing.T) *env {
	t.Helper()
	e := newEnv(t, session.Config{Delivery: session.DeliveryV2})
	e.fresh = true
	return e
}

// streamWork returns r's StreamWork after a JSON round trip, as a Lambda
// reply reaches the proxy.
func streamWork(t *testing.T, r *session.Reply) *session.StreamWork {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back session.Reply
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Stream, r.Stream) {
		t.Fatalf("StreamWork changed in JSON:\n%+v\n%+v", r.Stream, back.Stream)
	}
	if back.Stream == nil {
		return &session.StreamWork{}
	}
	return back.Stream
}

func TestV2ConfigRefused(t *testing.T) {
	for _, cfg := range []session.Config{
		{Delivery: "v3"},
		{Delivery: session.DeliveryV2, MaxInflight: 1000, MaxSubscriptions: 1000},
	} {
		if _, err := session.New(newEnv(t, session.Config{}).store, cfg, nil); !errors.Is(err, session.ErrConfig) {
			t.Errorf("%+v: %v, want ErrConfig", cfg, err)
		}
	}
}

// A QoS 1 message is appended once per distinct matching filter, however
// many subscribe to it; online subscribers are sent the entry, offline ones
// nothing, and nothing is queued per subscriber.
func TestV2PublishAppendsOncePerFilter(t *testing.T) {
	e := newV2Env(t)
	online := e.open(v5)
	r := online.send(connect(v5, "online"))
	if w := streamWork(t, r); w.Window == nil || w.Window.Max != 20 || w.Window.Plan.Reserved != 20 {
		t.Fatalf("CONNACK's window %+v, want Max 20 over ids above 20", w.Window)
	}
	r = online.send(subscribe(v5, 1, packet.Subscription{Filter: "a/+", QoS: 1}))
	if w := streamWork(t, r); len(w.Follows) != 1 || w.Follows[0].Stream.Filter != "a/+" || w.Follows[0].Position.Acked != 0 {
		t.Fatalf("SUBACK's follows %+v", w.Follows)
	}
	off := e.open(v5)
	off.send(connect(v5, "offline", persistent()))
	off.send(subscribe(v5, 1, packet.Subscription{Filter: "a/+", QoS: 1}), subscribe(v5, 2, packet.Subscription{Filter: "a/b", QoS: 1}))
	off.send(disconnect(v5, 0))

	pub := e.open(v5)
	pub.send(connect(v5, "pub"))
	r = pub.send(publish(v5, "a/b", "m", qos(1, 7)))
	if ack := one[*packet.Puback](t, pub.out(r)); ack.ReasonCode != packet.Success {
		t.Fatalf("PUBACK %s", ack.ReasonCode)
	}
	if len(r.Deliveries) != 1 || r.Deliveries[0].Conn != online.id || len(r.Deliveries[0].Packets) != 0 {
		t.Fatalf("deliveries %+v, want one to %s with no frames", r.Deliveries, online.id)
	}
	ds := r.Deliveries[0].Streams
	if len(ds) != 1 || ds[0].Stream.Filter != "a/+" || len(ds[0].Entries) != 1 || ds[0].Entries[0].Offset != 1 {
		t.Fatalf("stream deliveries %+v", ds)
	}
	heads, err := e.store.Heads(context.Background(), []session.StreamID{{Filter: "a/+"}, {Filter: "a/b"}})
	if err != nil {
		t.Fatal(err)
	}
	if heads[session.StreamID{Filter: "a/+"}] != 1 || heads[session.StreamID{Filter: "a/b"}] != 1 {
		t.Fatalf("heads %v, want one entry in each filter's stream", heads)
	}

	// The offline session finds the message in both its streams.
	back := e.open(v5)
	r = back.send(connect(v5, "offline", persistent(), resume()))
	w := streamWork(t, r)
	got := map[string]int{}
	for _, f := range w.Follows {
		got[f.Stream.Filter] = len(f.Entries)
	}
	if len(w.Follows) != 2 || got["a/+"] != 1 || got["a/b"] != 1 {
		t.Fatalf("resume follows %+v", w.Follows)
	}
	if n := len(ofType[*packet.Publish](back.out(r))); n != 0 {
		t.Fatalf("%d PUBLISH frames from a v1 queue", n)
	}
}

// The publisher's own message under No Local is a skip for its window
// [MQTT-3.8.3-3]; a message published before a SUBSCRIBE is not the new
// subscription's: it follows from the head.
func TestV2NoLocalAndHead(t *testing.T) {
	e := newV2Env(t)
	c := e.open(v5)
	c.send(connect(v5, "c"))
	pub := e.open(v5)
	pub.send(connect(v5, "pub"))
	pub.send(subscribe(v5, 1, packet.Subscription{Filter: "t", QoS: 1})) // makes the stream
	pub.send(publish(v5, "t", "before", qos(1, 1)))

	r := c.send(subscribe(v5, 1, packet.Subscription{Filter: "t", QoS: 1, NoLocal: true}))
	w := streamWork(t, r)
	if len(w.Follows) != 1 || w.Follows[0].Position.Acked != 1 || w.Follows[0].Head != 1 || len(w.Follows[0].Entries) != 0 {
		t.Fatalf("follow %+v, want from the head 1", w.Follows)
	}
	r = c.send(publish(v5, "t", "own", qos(1, 2)))
	w = streamWork(t, r)
	if len(w.Entries) != 1 || len(w.Entries[0].Entries) != 0 || !reflect.DeepEqual(w.Entries[0].Skips, []uint64{2}) {
		t.Fatalf("own message: %+v, want a skip of offset 2", w.Entries)
	}
}

// Positions are saved fenced on the connection: a connection taken over
// saves nothing and is closed.
func TestV2PositionsFenced(t *testing.T) {
	e := newV2Env(t)
	old := e.open(v5)
	old.send(connect(v5, "s", persistent()))
	old.send(subscribe(v5, 1, packet.Subscription{Filter: "t", QoS: 1}))
	id := session.StreamID{Filter: "t"}
	save := func(c *conn, acked uint64) *session.Reply {
		r, err := c.handle(&session.Event{Kind: session.KindPositions,
			Positions: []session.StreamPosition{{Stream: id, Position: session.Position{Acked: acked}}}})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := save(old, 3); r.Stream == nil || !r.Stream.Saved {
		t.Fatalf("save of the owner: %+v", r.Stream)
	}
	now := e.open(v5)
	now.send(connect(v5, "s", persistent(), resume()))
	if r := save(old, 9); (r.Stream != nil && r.Stream.Saved) || !r.Close {
		t.Fatalf("save of a connection taken over: %+v, close %v", r.Stream, r.Close)
	}
	pos, err := e.store.Positions(context.Background(), "s")
	if err != nil {
		t.Fatal(err)
	}
	if pos[id].Acked != 3 {
		t.Fatalf("acked %d, want 3 (the fenced save changed nothing)", pos[id].Acked)
	}
}

// A session a v1 handler left messages queued for, resumed by a v2
// handler on the same store (docs/architecture.md, "Migration"): v1's
// messages are sent first and the window starts paused; it resumes once
// nothing of v1 is in flight, and not before [MQTT-4.6.0-6].
func TestV2MigrationPausesWindow(t *testing.T) {
	e := newEnv(t, session.Config{}) // v1
	sub := e.open(v5)
	sub.send(connect(v5, "s", persistent()))
	sub.send(subscribe(v5, 1, packet.Subscription{Filter: "t", QoS: 1}))
	sub.send(disconnect(v5, 0))
	pub := e.open(v5)
	pub.send(connect(v5, "pub"))
	for i := range 3 {
		pub.send(publish(v5, "t", "v1", qos(1, uint16(i+1))))
	}

	e.cfg = session.Config{Delivery: session.DeliveryV2}
	e.fresh = true
	back := e.open(v5)
	r := back.send(connect(v5, "s", persistent(), resume()))
	w := streamWork(t, r)
	queued := ofType[*packet.Publish](back.out(r))
	if w.Window == nil || !w.Window.Paused || !back.state.HoldStreams || len(queued) != 3 {
		t.Fatalf("window %+v, hold %v, %d v1 PUBLISH frames; want a paused window after the 3 queued", w.Window, back.state.HoldStreams, len(queued))
	}
	if len(w.Follows) != 1 || w.Follows[0].DupTo != 0 {
		t.Fatalf("follows %+v, want one, without DUP (nothing of it was sent)", w.Follows)
	}
	for i, p := range queued {
		r = back.send(puback(v5, p.PacketID))
		if w := streamWork(t, r); w.Resume != (i == len(queued)-1) {
			t.Fatalf("after PUBACK %d of %d: resume %v", i+1, len(queued), w.Resume)
		}
	}
	if back.state.HoldStreams {
		t.Fatal("still holding the streams with nothing of v1 in flight")
	}
	// A reconnect with nothing of v1 left: not paused.
	back.send(disconnect(v5, 0))
	again := e.open(v5)
	if w := streamWork(t, again.send(connect(v5, "s", persistent(), resume()))); w.Window == nil || w.Window.Paused {
		t.Fatalf("window %+v after the migration, want not paused", w.Window)
	}
}

// streamEntries counts the delivery v2 entries r delivers to conn c.
func streamEntries(r *session.Reply, c *conn) int {
	n := 0
	for _, d := range r.Deliveries {
		if d.Conn != c.id {
			continue
		}
		for _, sd := range d.Streams {
			n += len(sd.Entries)
		}
	}
	return n
}

// Under delivery v2, the QoS 1 wills of several sessions that a sweep (or
// a recovery) publishes to one subscriber all reach it: the sweep merges
// their deliveries per connection, stream entries included.
func TestV2WillsToOneSubscriber(t *testing.T) {
	for _, kind := range []session.Kind{session.KindRecover, session.KindSweep} {
		t.Run(string(kind), func(t *testing.T) {
			e := newV2Env(t)
			e.lease("proxy-1", time.Second)
			watcher, _, _ := e.connectOn("proxy-W", v5, "watcher")
			watcher.send(subscribe(v5, 1, packet.Subscription{Filter: "will/#", QoS: 1}))
			for _, id := range []string{"a", "b", "c"} {
				e.connect(v5, id, persistent(), will("will/"+id, id+" gone", 1, false, 0))
			}
			var r *session.Reply
			if kind == session.KindSweep {
				e.clock.Advance(2 * time.Second) // proxy-1's lease lapsed
				r = e.sweep()
			} else {
				r = e.handleKind(kind, "proxy-1")
			}
			if n := streamEntries(r, watcher); n != 3 {
				t.Fatalf("%d wills reached the watcher's window, want 3: %+v", n, r.Deliveries)
			}
		})
	}
}
