package session_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
)

// Fan-out in chunks (chunk.go): a filter with more than ChunkSize
// subscriptions is delivered by chunk events that a ChunkRunner runs apart
// from the publish call.

// chunkRecorder is a ChunkRunner that keeps the events it accepts (after a
// JSON round trip, as an asynchronous invocation carries them), or refuses
// them with err.
type chunkRecorder struct {
	mu  sync.Mutex
	evs []*session.Event
	err error
}

func (r *chunkRecorder) RunChunks(_ context.Context, evs []*session.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	for _, ev := range evs {
		b, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		var back session.Event
		if err := json.Unmarshal(b, &back); err != nil {
			return err
		}
		r.evs = append(r.evs, &back)
	}
	return nil
}

func newChunkEnv(t *testing.T, size int) (*env, *chunkRecorder) {
	t.Helper()
	rec := &chunkRecorder{}
	e := newEnv(t, session.Config{Delivery: session.DeliveryV2, ChunkSize: size})
	e.opts = []session.Option{session.WithChunks(rec)}
	e.fresh = true
	return e, rec
}

// subscribers connects n clients "s0".."s<n-1>" subscribed to filter at
// QoS 1; those in offline end their connection, keeping their session.
func subscribers(e *env, filter string, n int, offline map[int]bool) map[string]*conn {
	out := map[string]*conn{}
	for i := range n {
		id := "s" + string(rune('0'+i))
		c := e.open(v5)
		c.send(connect(v5, id, persistent()))
		c.send(subscribe(v5, 1, packet.Subscription{Filter: filter, QoS: 1}))
		if offline[i] {
			c.send(disconnect(v5, 0))
			continue
		}
		out[id] = c
	}
	return out
}

// A filter past ChunkSize: the PUBACK waits only for the append and the
// runner's acceptance; the chunks name every subscriber once, and handling
// them sends the entry to each online one (a skip to the publisher under
// No Local [MQTT-3.8.3-3]), nothing to the offline one.
func TestChunkFanOut(t *testing.T) {
	e, rec := newChunkEnv(t, 3)
	online := subscribers(e, "t/+", 7, map[int]bool{6: true})
	pub := e.open(v5)
	pub.send(connect(v5, "pub"))
	pub.send(subscribe(v5, 1, packet.Subscription{Filter: "t/+", QoS: 1, NoLocal: true}))

	r := pub.send(publish(v5, "t/x", "m", qos(1, 5)))
	if ack := one[*packet.Puback](t, pub.out(r)); ack.ReasonCode != packet.Success {
		t.Fatalf("PUBACK %s, want Success", ack.ReasonCode)
	}
	if len(r.Deliveries) != 0 || r.Stream != nil && len(r.Stream.Entries) != 0 {
		t.Fatalf("the publish call delivered itself: %+v %+v", r.Deliveries, r.Stream)
	}
	if len(rec.evs) != 3 {
		t.Fatalf("%d chunk events, want 3 for 8 subscriptions in chunks of 3", len(rec.evs))
	}
	var clients, skips []string
	for _, ev := range rec.evs {
		ch := ev.Chunk
		if ev.Kind != session.KindChunk || ch == nil || ch.Stream.Filter != "t/+" || ch.Offset != 1 || ch.Message == nil || string(ch.Message.Payload) != "m" {
			t.Fatalf("chunk event %+v", ev)
		}
		if len(ch.Clients) > 3 {
			t.Fatalf("chunk of %d clients, want at most 3", len(ch.Clients))
		}
		clients = append(clients, ch.Clients...)
		skips = append(skips, ch.Skip...)
	}
	slices.Sort(clients)
	if want := []string{"pub", "s0", "s1", "s2", "s3", "s4", "s5", "s6"}; !slices.Equal(clients, want) {
		t.Fatalf("chunk clients %v, want %v", clients, want)
	}
	if !slices.Equal(skips, []string{"pub"}) {
		t.Fatalf("skips %v, want the publisher's own subscription", skips)
	}

	got := map[string]session.StreamDelivery{}
	for _, ev := range rec.evs {
		cr, err := e.handler().Handle(context.Background(), ev)
		if err != nil {
			t.Fatalf("chunk: %v", err)
		}
		for _, d := range cr.Deliveries {
			if len(d.Streams) != 1 {
				t.Fatalf("delivery %+v, want one stream delivery", d)
			}
			if _, dup := got[d.Client]; dup {
				t.Fatalf("%s reached twice", d.Client)
			}
			got[d.Client] = d.Streams[0]
		}
	}
	for id, c := range online {
		sd, ok := got[id]
		if !ok || len(sd.Entries) != 1 || sd.Entries[0].Offset != 1 || string(sd.Entries[0].Message.Payload) != "m" {
			t.Fatalf("%s (%s) got %+v, want the entry at 1", id, c.id, sd)
		}
	}
	if sd := got["pub"]; len(sd.Entries) != 0 || !slices.Equal(sd.Skips, []uint64{1}) {
		t.Fatalf("publisher got %+v, want a skip of 1", sd)
	}
	if _, ok := got["s6"]; ok {
		t.Fatal("the offline session was sent the entry")
	}
	// The offline session reads it from its stream when it comes back.
	back := e.open(v5)
	w := streamWork(t, back.send(connect(v5, "s6", persistent(), resume())))
	if len(w.Follows) != 1 || len(w.Follows[0].Entries) != 1 {
		t.Fatalf("resume follows %+v, want the entry", w.Follows)
	}
}

// A filter of ChunkSize subscriptions or fewer is delivered by the publish
// call, as without a runner.
func TestChunkNotBelowSize(t *testing.T) {
	e, rec := newChunkEnv(t, 3)
	subscribers(e, "t", 3, nil)
	pub := e.open(v5)
	pub.send(connect(v5, "pub"))
	r := pub.send(publish(v5, "t", "m", qos(1, 1)))
	if len(rec.evs) != 0 || len(r.Deliveries) != 3 {
		t.Fatalf("%d chunks, %d deliveries; want none and 3", len(rec.evs), len(r.Deliveries))
	}
}

// A runner that does not accept the chunks fails the call: no PUBACK, so
// the client sends the message again [MQTT-4.3.2-2].
func TestChunkRefusedNoPuback(t *testing.T) {
	e, rec := newChunkEnv(t, 1)
	subscribers(e, "t", 2, nil)
	rec.err = errors.New("throttled")
	pub := e.open(v5)
	pub.send(connect(v5, "pub"))
	r, err := pub.handle(&session.Event{Kind: session.KindPackets, Packets: [][]byte{publish(v5, "t", "m", qos(1, 1))}})
	if err == nil || !strings.Contains(err.Error(), "throttled") {
		t.Fatalf("err %v, want the runner's", err)
	}
	if len(ofType[*packet.Puback](pub.out(r))) != 0 {
		t.Fatal("PUBACK sent though the chunks were not accepted")
	}
}

// A message too large for a chunk event is read from the stream by each
// chunk.
func TestChunkLargeMessageRead(t *testing.T) {
	e, rec := newChunkEnv(t, 1)
	online := subscribers(e, "t", 2, nil)
	pub := e.open(v5)
	pub.send(connect(v5, "pub"))
	big := strings.Repeat("x", 100<<10)
	pub.send(publish(v5, "t", big, qos(1, 1)))
	if len(rec.evs) != 2 {
		t.Fatalf("%d chunk events, want 2", len(rec.evs))
	}
	for _, ev := range rec.evs {
		if ev.Chunk.Message != nil {
			t.Fatal("a 100 KB message carried in the chunk event")
		}
		cr, err := e.handler().Handle(context.Background(), ev)
		if err != nil {
			t.Fatal(err)
		}
		if len(cr.Deliveries) != 1 || online[cr.Deliveries[0].Client] == nil || len(cr.Deliveries[0].Streams[0].Entries) != 1 ||
			string(cr.Deliveries[0].Streams[0].Entries[0].Message.Payload) != big {
			t.Fatalf("chunk deliveries %+v", cr.Deliveries)
		}
	}
}
