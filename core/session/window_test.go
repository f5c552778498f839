package session

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

var winNow = time.UnixMilli(1_800_000_000_000)

// entries returns entries of offsets from..to of topic t at QoS q.
func entries(t string, q byte, from, to uint64) []StreamEntry {
	var out []StreamEntry
	for o := from; o <= to; o++ {
		out = append(out, StreamEntry{Offset: o, Message: Message{Topic: t, QoS: q, Payload: fmt.Appendf(nil, "m%d", o)}})
	}
	return out
}

// offsets returns the offsets of sends, with R for a PUBREL and D for DUP.
func offsets(sends []Send) []string {
	var out []string
	for _, s := range sends {
		tag := ""
		if s.Release {
			tag = "R"
		} else if s.Dup {
			tag = "D"
		}
		out = append(out, fmt.Sprintf("%d%s", s.Offset, tag))
	}
	return out
}

func testPlan(t *testing.T) PIDPlan {
	t.Helper()
	p, err := NewPIDPlan(20, 1000, 1)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var streamA = StreamID{Filter: "a/#"}

func subA(q byte) Subscription { return Subscription{ClientID: "c", Filter: "a/#", QoS: q, SubID: 7} }

func wantOffsets(t *testing.T, what string, got []Send, want ...string) {
	t.Helper()
	if g := offsets(got); !reflect.DeepEqual(g, want) && !(len(g) == 0 && len(want) == 0) {
		t.Fatalf("%s: handed out %v, want %v", what, g, want)
	}
}

// The window hands out a sub-stream in offset order, at most max QoS 1/2
// messages in flight [MQTT-3.3.4-9]; each PUBACK lets the next go
// [MQTT-4.6.0-6].
func TestWindowOrderAndCap(t *testing.T) {
	w := NewWindow(testPlan(t), 3, 100)
	w.Follow(streamA, subA(1), Position{}, 0)
	got := w.Offer(streamA, entries("a/x", 1, 1, 6), winNow)
	wantOffsets(t, "first offer", got, "1", "2", "3")
	if w.Inflight() != 3 {
		t.Fatalf("in flight %d, want 3", w.Inflight())
	}
	for _, s := range got {
		if s.Out.PacketID != w.plan.ID(w.plan.Slot(0, 0), s.Offset) || s.Out.QoS != 1 || !reflect.DeepEqual(s.Out.SubIDs, []uint32{7}) {
			t.Fatalf("offset %d: %+v", s.Offset, s.Out)
		}
	}
	next, err := w.Acked(got[1].Out.PacketID, winNow) // PUBACK of 2 before 1
	if err != nil {
		t.Fatal(err)
	}
	wantOffsets(t, "after PUBACK of 2", next, "4")
	if pos, _ := w.Positions(); pos[streamA].Acked != 0 {
		t.Fatalf("acked %d after PUBACK of 2 only, want 0 (1 is not acknowledged)", pos[streamA].Acked)
	}
	next, _ = w.Acked(got[0].Out.PacketID, winNow)
	wantOffsets(t, "after PUBACK of 1", next, "5")
	if pos, dirty := w.Positions(); pos[streamA].Acked != 2 || !dirty {
		t.Fatalf("acked %d dirty %v, want 2 true", pos[streamA].Acked, dirty)
	}
	if _, err := w.Acked(got[0].Out.PacketID, winNow); !errors.Is(err, ErrUnknownPacket) {
		t.Fatalf("second PUBACK of 1: %v, want ErrUnknownPacket", err)
	}
}

// Deliveries arrive from several calls in any order and some twice: the
// window writes each offset once, in order, and reports a hole it waits
// for (Gaps).
func TestWindowReordersAndDropsRepeats(t *testing.T) {
	w := NewWindow(testPlan(t), 20, 100)
	w.Follow(streamA, subA(1), Position{Acked: 10}, 0)
	wantOffsets(t, "13 before 11", w.Offer(streamA, entries("a/x", 1, 13, 13), winNow))
	if g := w.Gaps(); !reflect.DeepEqual(g, []Gap{{Stream: streamA, After: 10}}) {
		t.Fatalf("gaps %v, want after 10", g)
	}
	wantOffsets(t, "11 and 12", w.Offer(streamA, entries("a/x", 1, 11, 12), winNow), "11", "12", "13")
	wantOffsets(t, "11..13 again", w.Offer(streamA, entries("a/x", 1, 9, 13), winNow))
	if g := w.Gaps(); len(g) != 0 {
		t.Fatalf("gaps %v, want none", g)
	}
}

// A message goes at the lower of its QoS and the subscription's
// [MQTT-3.8.4-8]; QoS 0 frames are outside the window and done when
// written.
func TestWindowQoS0OutsideWindow(t *testing.T) {
	w := NewWindow(testPlan(t), 1, 100)
	w.Follow(streamA, subA(0), Position{}, 0)
	got := w.Offer(streamA, entries("a/x", 2, 1, 5), winNow)
	wantOffsets(t, "QoS 0 subscription", got, "1", "2", "3", "4", "5")
	for _, s := range got {
		if s.Out.QoS != 0 || s.Out.PacketID != 0 {
			t.Fatalf("offset %d went at QoS %d pid %d", s.Offset, s.Out.QoS, s.Out.PacketID)
		}
	}
	if pos, _ := w.Positions(); pos[streamA].Acked != 5 || w.Inflight() != 0 {
		t.Fatalf("acked %d in flight %d, want 5 and 0", pos[streamA].Acked, w.Inflight())
	}
}

// QoS 2: PUBREC releases the message, and the released offset is in the
// positions to save before the PUBREL goes [MQTT-4.4.0-1]; PUBCOMP ends it.
func TestWindowQoS2(t *testing.T) {
	w := NewWindow(testPlan(t), 20, 100)
	w.Follow(streamA, subA(2), Position{}, 0)
	got := w.Offer(streamA, entries("a/x", 2, 1, 2), winNow)
	p1, p2 := got[0].Out.PacketID, got[1].Out.PacketID
	if _, err := w.Acked(p1, winNow); !errors.Is(err, ErrUnknownPacket) {
		t.Fatalf("PUBACK of a QoS 2 message: %v, want ErrUnknownPacket", err)
	}
	if _, err := w.Completed(p1, winNow); !errors.Is(err, ErrUnknownPacket) {
		t.Fatalf("PUBCOMP before PUBREC: %v, want ErrUnknownPacket", err)
	}
	w.Saved()
	if _, err := w.Received(p2, false, winNow); err != nil {
		t.Fatal(err)
	}
	pos, dirty := w.Positions()
	if !dirty || !reflect.DeepEqual(pos[streamA], Position{Released: []uint64{2}}) {
		t.Fatalf("positions %+v dirty %v, want 2 released", pos[streamA], dirty)
	}
	if _, err := w.Completed(p2, winNow); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Received(p1, true, winNow); err != nil { // a failing PUBREC ends it
		t.Fatal(err)
	}
	if pos, _ := w.Positions(); !reflect.DeepEqual(pos[streamA], Position{Acked: 2}) || w.Inflight() != 0 {
		t.Fatalf("positions %+v in flight %d, want acked 2, none", pos[streamA], w.Inflight())
	}
}

// A resumed session gets, from its saved positions, the same packet
// identifiers the earlier connection used [MQTT-4.4.0-1]: PUBREL for a
// released message, PUBLISH with DUP for those that may have been sent
// [MQTT-3.3.1-1], and new ones without.
func TestWindowResumeKeepsIdentifiers(t *testing.T) {
	first := NewWindow(testPlan(t), 20, 100)
	first.Follow(streamA, subA(2), Position{Number: 3, Acked: 10}, 0)
	sent := first.Offer(streamA, entries("a/x", 2, 11, 14), winNow)
	if _, err := first.Received(sent[1].Out.PacketID, false, winNow); err != nil { // 12
		t.Fatal(err)
	}
	saved, _ := first.Positions()
	// The connection dies; the next one resumes from what was saved.
	second := NewWindow(testPlan(t), 20, 100)
	second.Follow(streamA, subA(2), saved[streamA], 14)
	again := second.Offer(streamA, entries("a/x", 2, 11, 16), winNow)
	wantOffsets(t, "resume", again, "11D", "12R", "13D", "14D", "15", "16")
	for i, s := range again[:4] {
		if s.Out.PacketID != sent[i].Out.PacketID {
			t.Fatalf("offset %d resent with packet id %d, first sent with %d", s.Offset, s.Out.PacketID, sent[i].Out.PacketID)
		}
	}
	if _, err := second.Completed(again[1].Out.PacketID, winNow); err != nil {
		t.Fatalf("PUBCOMP after the resumed PUBREL: %v", err)
	}
}

// Messages that are not for the session take their place in the order
// without a frame: its own under No Local [MQTT-3.8.3-3], expired ones
// [MQTT-3.3.2-5], and offsets the fan-out skipped.
func TestWindowSkips(t *testing.T) {
	w := NewWindow(testPlan(t), 20, 100)
	sub := subA(1)
	sub.NoLocal = true
	w.Follow(streamA, sub, Position{}, 0)
	es := entries("a/x", 1, 1, 4)
	es[0].Message.Publisher = "c"                // its own
	es[1].Message.ExpiresAt = winNow.UnixMilli() // expired
	w.Skip(streamA, []uint64{3}, winNow)
	wantOffsets(t, "after skips", w.Offer(streamA, es, winNow), "4")
	if pos, _ := w.Positions(); pos[streamA].Acked != 3 {
		t.Fatalf("acked %d, want 3 (the skipped ones are done)", pos[streamA].Acked)
	}
}

// The window holds at most hold entries of a sub-stream; the rest are let
// go and read again once there is room (Gaps), so a slow subscriber costs
// bounded memory and loses nothing.
func TestWindowHoldBound(t *testing.T) {
	w := NewWindow(testPlan(t), 1, 3)
	w.Follow(streamA, subA(1), Position{}, 0)
	got := w.Offer(streamA, entries("a/x", 1, 1, 10), winNow)
	wantOffsets(t, "window of 1", got, "1")
	if g := w.Gaps(); len(g) != 0 {
		t.Fatalf("gaps %v while 2..4 are held", g)
	}
	for range 3 {
		next, err := w.Acked(got[0].Out.PacketID, winNow)
		if err != nil {
			t.Fatal(err)
		}
		got = next
	}
	wantOffsets(t, "after three PUBACKs", got, "4")
	next, _ := w.Acked(got[0].Out.PacketID, winNow)
	wantOffsets(t, "after the held ones", next)
	if g := w.Gaps(); !reflect.DeepEqual(g, []Gap{{Stream: streamA, After: 4}}) {
		t.Fatalf("gaps %v, want after 4 (5..10 were let go)", g)
	}
	wantOffsets(t, "read again", w.Offer(streamA, entries("a/x", 1, 5, 10), winNow), "5")
}

// Entries let go past the hold are due for a read as soon as the window
// has room for them (half its hold or less held), without -order-wait; an
// entry offered above them meanwhile is let go too, so that the read after
// the last held one gets them back in order. A hole a delivery under way
// may still fill is not due: it waits for -order-wait (Gaps).
func TestWindowDue(t *testing.T) {
	w := NewWindow(testPlan(t), 2, 4)
	w.Follow(streamA, subA(1), Position{}, 0)
	got := w.Offer(streamA, entries("a/x", 1, 1, 10), winNow)
	wantOffsets(t, "window of 2", got, "1", "2") // 3..6 held, 7..10 let go
	if d := w.Due(); len(d) != 0 {
		t.Fatalf("due %v while 4 are held", d)
	}
	wantOffsets(t, "above the let-go entries", w.Offer(streamA, entries("a/x", 1, 11, 11), winNow))
	next, _ := w.Acked(got[0].Out.PacketID, winNow)
	wantOffsets(t, "first PUBACK", next, "3") // 4..6 held: more than half
	if d := w.Due(); len(d) != 0 {
		t.Fatalf("due %v while 3 are held", d)
	}
	next, _ = w.Acked(got[1].Out.PacketID, winNow)
	wantOffsets(t, "second PUBACK", next, "4") // 5, 6 held
	// 12 would fit now, but 7..11 are missing below it: let go too.
	wantOffsets(t, "12 above the let-go entries", w.Offer(streamA, entries("a/x", 1, 12, 12), winNow))
	want := []Gap{{Stream: streamA, After: 6, Early: true}}
	if d := w.Due(); !reflect.DeepEqual(d, want) {
		t.Fatalf("due %v, want %v", d, want)
	}
	// The read after 6 gets 7..11 back; 7 and 8 fill the hold, the rest
	// is let go again and due once there is room.
	wantOffsets(t, "read again", w.Offer(streamA, entries("a/x", 1, 7, 11), winNow))
	if d := w.Due(); len(d) != 0 {
		t.Fatalf("due %v with a full hold", d)
	}

	// A hole in front of what is held, with nothing let go, is no due read.
	w2 := NewWindow(testPlan(t), 2, 4)
	w2.Follow(streamA, subA(1), Position{}, 0)
	wantOffsets(t, "2 before 1", w2.Offer(streamA, entries("a/x", 1, 2, 3), winNow))
	if d := w2.Due(); len(d) != 0 {
		t.Fatalf("due %v for a hole (1 may be on its way)", d)
	}
	if g := w2.Gaps(); len(g) != 1 {
		t.Fatalf("gaps %v, want the hole after 0", g)
	}
}

// Entries offered one at a time while others are handed out, so that the
// held ones move through their array and it is reused from its front, all
// go out once, in order.
func TestWindowHeldInOrderThroughReuse(t *testing.T) {
	w := NewWindow(testPlan(t), 1, 256)
	w.Follow(streamA, subA(1), Position{}, 0)
	var out []string
	var flying []Send
	take := func(s []Send) {
		out = append(out, offsets(s)...)
		flying = append(flying, s...)
	}
	ack := func() {
		s := flying[0]
		flying = flying[1:]
		next, err := w.Acked(s.Out.PacketID, winNow)
		if err != nil {
			t.Fatal(err)
		}
		take(next)
	}
	const n = 300
	for o := uint64(1); o <= n; o++ {
		take(w.Offer(streamA, entries("a/x", 1, o, o), winNow))
		switch {
		case o == 100: // 99 held: hand out 90 of them
			for range 90 {
				ack()
			}
		case o > 100: // 9 held move through the array to its end
			ack()
		}
	}
	for len(flying) > 0 {
		ack()
	}
	if len(out) != n {
		t.Fatalf("handed out %d of %d", len(out), n)
	}
	for i, o := range out {
		if o != fmt.Sprint(i+1) {
			t.Fatalf("handed out %v..., want 1..%d in order", out[:i+1], n)
		}
	}
}

// Two offsets of one sub-stream a span apart would share an identifier:
// the window never has both in flight, whatever Receive Maximum allows.
func TestWindowSpan(t *testing.T) {
	plan, err := NewPIDPlan(2, 10000, 3) // span (65535-2)/30000 = 2
	if err != nil {
		t.Fatal(err)
	}
	w := NewWindow(plan, 2, 100)
	w.Follow(streamA, subA(1), Position{}, 0)
	got := w.Offer(streamA, entries("a/x", 1, 1, 5), winNow)
	wantOffsets(t, "span 2", got, "1", "2")
	next, _ := w.Acked(got[1].Out.PacketID, winNow) // 2 acknowledged, 1 not
	wantOffsets(t, "1 still in flight", next)
	next, _ = w.Acked(got[0].Out.PacketID, winNow)
	wantOffsets(t, "1 acknowledged", next, "3", "4")
}

// Unsubscribe: messages in flight still complete [MQTT-3.10.4-3]; the
// sub-stream is no longer followed.
func TestWindowUnfollow(t *testing.T) {
	w := NewWindow(testPlan(t), 20, 100)
	w.Follow(streamA, subA(1), Position{}, 0)
	got := w.Offer(streamA, entries("a/x", 1, 1, 1), winNow)
	w.Unfollow(streamA)
	if _, err := w.Acked(got[0].Out.PacketID, winNow); err != nil {
		t.Fatalf("PUBACK after Unsubscribe: %v", err)
	}
	wantOffsets(t, "offer after Unsubscribe", w.Offer(streamA, entries("a/x", 1, 2, 2), winNow))
	if pos, _ := w.Positions(); len(pos) != 0 {
		t.Fatalf("positions %v after Unsubscribe", pos)
	}
}

func TestCatchUpFrom(t *testing.T) {
	for _, c := range []struct {
		acked, head          uint64
		maxQueued            int
		wantAfter, wantDrops uint64
	}{
		{10, 15, 100, 10, 0},
		{10, 150, 100, 50, 40},
		{10, 110, 100, 10, 0},
		{10, 1000, 0, 10, 0},
	} {
		after, drops := CatchUpFrom(c.acked, c.head, c.maxQueued)
		if after != c.wantAfter || drops != c.wantDrops {
			t.Errorf("CatchUpFrom(%d, %d, %d) = %d, %d; want %d, %d", c.acked, c.head, c.maxQueued, after, drops, c.wantAfter, c.wantDrops)
		}
	}
}

// A new subscription gets the smallest number its session does not use, so
// its identifiers never overlap another subscription's.
func TestWindowFreeNumber(t *testing.T) {
	w := NewWindow(testPlan(t), 20, 100)
	if n := w.FreeNumber(); n != 0 {
		t.Fatalf("first number %d, want 0", n)
	}
	for i, n := range []int{0, 1, 3} {
		w.Follow(StreamID{Filter: fmt.Sprint("f", i)}, subA(1), Position{Number: n}, 0)
	}
	w.Follow(StreamID{Filter: "f0", Shard: 1}, subA(1), Position{Number: 0}, 0) // another shard of f0
	if n := w.FreeNumber(); n != 2 {
		t.Fatalf("free number %d, want 2", n)
	}
	pos, _ := w.Positions()
	if pos[StreamID{Filter: "f2"}].Number != 3 {
		t.Fatalf("positions lose the subscription number: %+v", pos)
	}
}

// A follow whose head is past what was offered has a gap to read: a
// message appended while the follow was being set up is not missed.
func TestWindowBehind(t *testing.T) {
	plan, err := NewPIDPlan(20, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	w := NewWindow(plan, 20, 16)
	id := StreamID{Filter: "a/b"}
	w.Follow(id, Subscription{ClientID: "c", Filter: "a/b", QoS: 1}, Position{Acked: 3}, 0)
	if g := w.Gaps(); len(g) != 0 {
		t.Fatalf("gaps before Behind: %v", g)
	}
	w.Behind(id, 5)
	g := w.Gaps()
	if len(g) != 1 || g[0].Stream != id || g[0].After != 3 {
		t.Fatalf("gaps after Behind(5): %v, want one after 3", g)
	}
	sends := w.Offer(id, []StreamEntry{{Offset: 4, Message: Message{Topic: "a/b", QoS: 1}}, {Offset: 5, Message: Message{Topic: "a/b", QoS: 1}}}, time.Now())
	if len(sends) != 2 || len(w.Gaps()) != 0 {
		t.Fatalf("after the catch-up: %d sends, gaps %v", len(sends), w.Gaps())
	}
	if !plan.Owns(sends[0].Out.PacketID) || plan.Owns(20) {
		t.Fatalf("Owns: %d should be the plan's, 20 the queues'", sends[0].Out.PacketID)
	}
}

// A subscription that takes the number of one unsubscribed while its
// message is still in flight waits for that identifier to be free.
func TestWindowNumberReusedWaits(t *testing.T) {
	plan, err := NewPIDPlan(20, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	w := NewWindow(plan, 20, 16)
	now := time.Now()
	old, next := StreamID{Filter: "old"}, StreamID{Filter: "new"}
	w.Follow(old, Subscription{ClientID: "c", Filter: "old", QoS: 1}, Position{Number: 0}, 0)
	first := w.Offer(old, []StreamEntry{{Offset: 1, Message: Message{Topic: "old", QoS: 1}}}, now)
	if len(first) != 1 {
		t.Fatalf("sends %v", first)
	}
	w.Unfollow(old)
	w.Follow(next, Subscription{ClientID: "c", Filter: "new", QoS: 1}, Position{Number: 0}, 0)
	if s := w.Offer(next, []StreamEntry{{Offset: 1, Message: Message{Topic: "new", QoS: 1}}}, now); len(s) != 0 {
		t.Fatalf("sent under identifier %d, still in flight", s[0].Out.PacketID)
	}
	s, err := w.Acked(first[0].Out.PacketID, now)
	if err != nil || len(s) != 1 || s[0].Stream != next || s[0].Out.PacketID != first[0].Out.PacketID {
		t.Fatalf("after the PUBACK: %v, %v", s, err)
	}
}

// A sub-stream that began again far above the offsets it gave (DynamoDB
// after its entries passed their retention), or whose oldest entries are
// gone: the read after next-1 finds its first entry higher, and the
// offsets between count as done without a frame. Acked passes them only
// once everything below them is acknowledged, and an entry the window
// holds is never passed over.
func TestWindowGone(t *testing.T) {
	w := NewWindow(testPlan(t), 20, 100)
	w.Follow(streamA, subA(1), Position{Acked: 10}, 0)
	first := w.Offer(streamA, entries("a/x", 1, 11, 11), winNow)
	wantOffsets(t, "11", first, "11")
	const base = uint64(7_357_541_059_153_920)
	wantOffsets(t, "an entry above the hole", w.Offer(streamA, entries("a/x", 1, base+1, base+1), winNow))
	if g := w.Gaps(); !reflect.DeepEqual(g, []Gap{{Stream: streamA, After: 11}}) {
		t.Fatalf("gaps %v, want after 11", g)
	}
	// The catch-up read after 11 found base+1 first.
	wantOffsets(t, "after Gone", w.Gone(streamA, base+1, winNow))
	if g := w.Gaps(); len(g) != 0 {
		t.Fatalf("gaps %v after Gone, want none", g)
	}
	// base+1 is out of 11's span: it waits for 11's PUBACK.
	next, err := w.Acked(first[0].Out.PacketID, winNow)
	if err != nil {
		t.Fatal(err)
	}
	wantOffsets(t, "after PUBACK of 11", next, fmt.Sprint(base+1))
	if pos, _ := w.Positions(); pos[streamA].Acked != base {
		t.Fatalf("acked %d, want %d: the gone run passed once 11 was acknowledged", pos[streamA].Acked, base)
	}
	// A Gone that names an offset above one the window holds stops there.
	w2 := NewWindow(testPlan(t), 20, 100)
	w2.Follow(streamA, subA(1), Position{Acked: 10}, 0)
	wantOffsets(t, "13 held", w2.Offer(streamA, entries("a/x", 1, 13, 13), winNow))
	wantOffsets(t, "Gone below 20 with 13 held", w2.Gone(streamA, 20, winNow), "13")
	wantOffsets(t, "Gone below the next", w2.Gone(streamA, 5, winNow))
	if pos, _ := w2.Positions(); pos[streamA].Acked != 12 {
		t.Fatalf("acked %d, want 12 (11 and 12 gone, 13 in flight)", pos[streamA].Acked)
	}
}

// goneBelow names the first entry a read found only when it is not the
// one after where the read began.
func TestGoneBelow(t *testing.T) {
	for _, tc := range []struct {
		from, to, after, want uint64
	}{{11, 12, 10, 0}, {15, 16, 10, 15}, {1, 0, 10, 0}} {
		if got := goneBelow(entries("a/x", 1, tc.from, tc.to), tc.after); got != tc.want {
			t.Errorf("entries %d..%d read after %d: goneBelow %d, want %d", tc.from, tc.to, tc.after, got, tc.want)
		}
	}
}

// A paused window (a session migrating from v1, whose queued messages go
// first [MQTT-4.6.0-6]) hands out nothing and shows no gap; Resume hands
// out what it held, in order; what was let go past hold is a gap then.
// Identifiers it has not in flight are not its (Flying): v1's, kept.
func TestWindowPause(t *testing.T) {
	w := NewWindow(testPlan(t), 2, 3)
	w.Pause()
	w.Follow(streamA, subA(1), Position{}, 0)
	wantOffsets(t, "paused", w.Offer(streamA, entries("a/x", 1, 1, 5), winNow))
	if g := w.Gaps(); len(g) != 0 {
		t.Fatalf("gaps %v while paused", g)
	}
	got := w.Resume(winNow)
	wantOffsets(t, "resumed", got, "1", "2")
	wantOffsets(t, "resumed again", w.Resume(winNow))
	if !w.Flying(got[0].Out.PacketID) || w.Flying(30) {
		t.Fatalf("Flying(%d) false or Flying(30) true", got[0].Out.PacketID)
	}
	next, _ := w.Acked(got[0].Out.PacketID, winNow)
	wantOffsets(t, "after a PUBACK", next, "3")
	if g := w.Gaps(); !reflect.DeepEqual(g, []Gap{{Stream: streamA, After: 3}}) {
		t.Fatalf("gaps %v, want after 3 (4 and 5 were let go while paused)", g)
	}
}

// BenchmarkWindowIdle is the memory a live connection's window keeps for
// one subscription with nothing in flight (the window's part of S4).
func BenchmarkWindowIdle(b *testing.B) {
	plan, err := NewPIDPlan(20, 1000, 1)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		w := NewWindow(plan, 20, 256)
		w.Follow(streamA, subA(1), Position{}, 0)
		windowSink = w // kept, as a connection keeps it
	}
}

var windowSink *Window

// BenchmarkWindowQoS1 is one QoS 1 message through the window: offered,
// handed out, acknowledged in order.
func BenchmarkWindowQoS1(b *testing.B) {
	plan, err := NewPIDPlan(20, 1000, 1)
	if err != nil {
		b.Fatal(err)
	}
	w := NewWindow(plan, 20, 256)
	w.Follow(streamA, subA(1), Position{}, 0)
	e := []StreamEntry{{Message: Message{Topic: "a/x", QoS: 1, Payload: []byte("m")}}}
	b.ReportAllocs()
	for b.Loop() {
		e[0].Offset++
		sends := w.Offer(streamA, e, winNow)
		if len(sends) != 1 {
			b.Fatalf("handed out %d, want 1", len(sends))
		}
		if _, err := w.Acked(sends[0].Out.PacketID, winNow); err != nil {
			b.Fatal(err)
		}
	}
}

// A window with more follows than its list keeps alone (followIndexAt)
// finds each of them, before and after most are unfollowed: every
// sub-stream hands out its own entries, and Positions holds the ones
// followed.
func TestWindowManyFollows(t *testing.T) {
	w := NewWindow(testPlan(t), 100, 100)
	ids := make([]StreamID, 3*followIndexAt)
	for i := range ids {
		ids[i] = StreamID{Filter: fmt.Sprintf("f%d/#", i)}
		w.Follow(ids[i], Subscription{ClientID: "c", Filter: ids[i].Filter, QoS: 1}, Position{Number: i}, 0)
	}
	offer := func(id StreamID, o uint64) {
		t.Helper()
		got := w.Offer(id, entries(id.Filter, 1, o, o), winNow)
		if len(got) != 1 || got[0].Stream != id || got[0].Offset != o {
			t.Fatalf("offer of %s %d handed out %+v", id.Filter, o, got)
		}
		if _, err := w.Acked(got[0].Out.PacketID, winNow); err != nil {
			t.Fatalf("PUBACK of %s %d: %v", id.Filter, o, err)
		}
	}
	for _, id := range ids {
		offer(id, 1)
	}
	for _, id := range ids[2:] {
		w.Unfollow(id)
	}
	for _, id := range ids[:2] {
		offer(id, 2)
	}
	pos, _ := w.Positions()
	if len(pos) != 2 || pos[ids[0]].Acked != 2 || pos[ids[1]].Acked != 2 || pos[ids[1]].Number != 1 {
		t.Fatalf("positions %+v, want %s and %s acknowledged to 2", pos, ids[0].Filter, ids[1].Filter)
	}
	if got := w.Offer(ids[5], entries(ids[5].Filter, 1, 2, 2), winNow); len(got) != 0 {
		t.Fatalf("an unfollowed sub-stream handed out %+v", got)
	}
}

// When the window is full, the room each PUBACK makes goes to the
// sub-streams in turn: one with a backlog does not keep another waiting.
func TestWindowRoomTakenInTurn(t *testing.T) {
	w := NewWindow(testPlan(t), 1, 100)
	streamB := StreamID{Filter: "b/#"}
	w.Follow(streamA, subA(1), Position{}, 0)
	w.Follow(streamB, Subscription{ClientID: "c", Filter: "b/#", QoS: 1}, Position{Number: 1}, 0)
	sent := w.Offer(streamA, entries("a/x", 1, 1, 8), winNow)
	sent = append(sent, w.Offer(streamB, entries("b/x", 1, 1, 8), winNow)...)
	count := map[StreamID]int{}
	for range 8 {
		if len(sent) != 1 {
			t.Fatalf("handed out %d with one free slot, want 1", len(sent))
		}
		count[sent[0].Stream]++
		var err error
		if sent, err = w.Acked(sent[len(sent)-1].Out.PacketID, winNow); err != nil {
			t.Fatal(err)
		}
	}
	if count[streamA] < 3 || count[streamB] < 3 {
		t.Fatalf("of 8 sends, %d went to a/# and %d to b/#; want each its turn", count[streamA], count[streamB])
	}
}
