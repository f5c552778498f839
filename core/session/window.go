package session

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Window is delivery v2's send window of one live connection over the
// sub-streams of its non-shared subscriptions (docs/architecture.md,
// "Delivery v2"). It holds, as plain data, the rules that v1 spreads over
// the stores: which messages go in flight (Receive Maximum and
// -max-inflight [MQTT-3.3.4-9], QoS 0 outside the window), their packet
// identifiers (PIDPlan), the order of each sub-stream [MQTT-4.6.0-6], the
// QoS 2 states, and how far the session has acknowledged (Positions).
//
// A Window is owned by one goroutine at a time (the proxy's connection, or
// the session function building a resume); it is not safe for concurrent
// use and does no I/O: deliveries are offered to it, acknowledgements told
// to it, and it returns what to write. Whoever owns it saves Positions
// (StreamStore.SavePositions), at the latest before writing a PUBREL that
// Received asked to wait for the save.
type Window struct {
	plan PIDPlan
	max  int // QoS 1/2 PUBLISHes in flight at most
	hold int // entries held per sub-stream at most (waiting for room or order)
	// follows are the sub-streams followed (followset.go); pump offers
	// the room to them in turn.
	follows followSet
	// flight is nil until the first QoS 1/2 hand-out: an idle connection
	// keeps no map for it (S4).
	flight map[uint16]*flying
	dirty  bool // Positions changed since the last Saved
	// paused: nothing is handed out (Pause); offers are held as usual.
	paused bool
}

// follow is the window's state of one sub-stream.
type follow struct {
	id     StreamID
	number int // the subscription's number (Position.Number)
	slot   int
	sub    Subscription
	acked  uint64          // every offset <= acked is done
	done   map[uint64]bool // offsets above acked+1 that are done; nil when none
	rel    map[uint64]bool // QoS 2 offsets above acked released (PUBREC came); nil when none
	next   uint64          // the next offset to hand out
	dupTo  uint64          // offsets <= dupTo may have been sent before: DUP
	// wait are entries at or above next not handed out yet, by offset:
	// above a gap (order), or with the window full. At most hold. buf is
	// the start of wait's array, which hold1 reuses.
	wait, buf []waiting
	// seen is the highest offset offered; above len(wait)'s last, the
	// entries were let go (hold) and are to be read again (Gaps).
	seen uint64
	// gone are runs [from, to) of offsets that were never handed out and
	// no longer exist (Gone), ascending, all at or above acked+1: acked
	// passes a run whole once it reaches it.
	gone [][2]uint64
}

// waiting is an entry held by a follow; skip: not for this session.
type waiting struct {
	StreamEntry
	skip bool
}

// release records QoS 2 offset o as released.
func (f *follow) release(o uint64) {
	if f.rel == nil {
		f.rel = map[uint64]bool{}
	}
	f.rel[o] = true
}

// at returns where offset is, or goes, in f.wait, and whether it is there.
func (f *follow) at(offset uint64) (int, bool) {
	return slices.BinarySearchFunc(f.wait, offset, func(x waiting, o uint64) int { return cmp.Compare(x.Offset, o) })
}

// flying is one PUBLISH (or PUBREL) in flight.
type flying struct {
	id       StreamID
	offset   uint64
	qos      byte
	released bool // PUBREC came; PUBREL written or due
}

// Send is one frame the window hands out, in the order to write them.
type Send struct {
	Stream StreamID
	Offset uint64
	// Release: write PUBREL for PacketID (a released QoS 2 message being
	// resumed); Out is nil.
	Release bool
	// Out is the PUBLISH to write (QoS, Retain, SubIDs, PacketID and the
	// message), with Dup when it may have been sent before [MQTT-3.3.1-1].
	Out *Outbound
	Dup bool
}

// ErrUnknownPacket is an acknowledgement of a packet identifier the window
// has not in flight, or in the wrong state (a PUBACK for a QoS 2 message).
var ErrUnknownPacket = errors.New("session: acknowledgement of no message in flight")

// NewWindow returns an empty window for the plan, with max QoS 1/2
// messages in flight and hold entries held per sub-stream.
func NewWindow(plan PIDPlan, max, hold int) *Window {
	return &Window{plan: plan, max: max, hold: hold}
}

// Follow starts following sub-stream id for subscription sub from pos: the
// subscription's number, the acknowledged offset and the released ones (a
// resume), or the head for a new subscription. Offsets up to dupTo may
// have been sent on an earlier connection: they go out with DUP
// [MQTT-3.3.1-1], their released ones as PUBREL [MQTT-4.4.0-1]. Following
// a sub-stream again replaces its subscription options only.
func (w *Window) Follow(id StreamID, sub Subscription, pos Position, dupTo uint64) {
	if f := w.follows.get(id); f != nil {
		f.sub = sub
		return
	}
	f := &follow{id: id, number: pos.Number, slot: w.plan.Slot(pos.Number, id.Shard), sub: sub, acked: pos.Acked, next: pos.Acked + 1,
		dupTo: dupTo, seen: pos.Acked}
	for _, o := range pos.Released {
		if o > pos.Acked {
			f.release(o)
		}
	}
	w.follows.add(f)
}

// Behind tells the window that sub-stream id has entries up to head (the
// head read when the follow began): those not offered are to be read with
// a catch-up (Gaps), so that a message appended while the follow was being
// set up is not missed.
func (w *Window) Behind(id StreamID, head uint64) {
	if f := w.follows.get(id); f != nil {
		f.seen = max(f.seen, head)
	}
}

// Next returns the next offset the window hands out on id, and whether
// it follows id.
func (w *Window) Next(id StreamID) (uint64, bool) {
	if f := w.follows.get(id); f != nil {
		return f.next, true
	}
	return 0, false
}

// FreeNumber returns the smallest subscription number that no followed
// filter uses, for a new subscription.
func (w *Window) FreeNumber() int {
	used := map[int]bool{}
	for _, f := range w.follows.list {
		used[f.number] = true
	}
	n := 0
	for used[n] {
		n++
	}
	return n
}

// Pause stops the window handing anything out until Resume: a session
// migrated from delivery v1 is sent the messages v1 queued for it before
// any of its streams', which are all newer (docs/architecture.md,
// "Migration") [MQTT-4.6.0-6]. Offers are held meanwhile (at most hold a
// sub-stream, the rest read again after Resume: Gaps), and Gaps reports
// nothing, as nothing held could go.
func (w *Window) Pause() { w.paused = true }

// Resume ends a Pause and returns what may go now.
func (w *Window) Resume(now time.Time) []Send {
	if !w.paused {
		return nil
	}
	w.paused = false
	return w.pump(now)
}

// Flying reports whether pid is in flight in the window: an
// acknowledgement of another identifier is not the window's (a message
// v1 put in flight before a migration keeps the identifier it was sent
// with, whatever the PIDPlan says of it [MQTT-4.4.0-1]).
func (w *Window) Flying(pid uint16) bool { return w.flight[pid] != nil }

// Unfollow stops following id (Unsubscribe): its messages in flight stay
// until acknowledged [MQTT-3.10.4-3], the rest is dropped.
func (w *Window) Unfollow(id StreamID) {
	w.follows.remove(id)
	w.dirty = true
}

// Offer gives the window entries of sub-stream id (a delivery, a catch-up
// or a resume), in any order and with repeats, and returns what to write
// now. Entries at offsets already handed out are dropped: a delivery made
// twice is written once. now is for message expiry.
func (w *Window) Offer(id StreamID, entries []StreamEntry, now time.Time) []Send {
	f := w.follows.get(id)
	if f == nil {
		return nil // not (or no longer) subscribed
	}
	var out []Send
	for _, e := range entries {
		w.hold1(f, waiting{StreamEntry: e})
		out = w.pumpFollow(out, id, f, now) // hand out before holding more
	}
	return out
}

// hold1 holds e in f unless it was handed out or is held already; past
// w.hold entries, the highest are let go, to be read again (Due, Gaps).
// Once entries were let go, a later one is let go too unless it follows
// the last held: what is held stays below what was let go, so that a
// read after the last held (Due) gets the let-go entries back in order.
func (w *Window) hold1(f *follow, e waiting) {
	last := f.lastHeld()
	letGo := f.seen > last
	f.seen = max(f.seen, e.Offset)
	if e.Offset < f.next {
		return
	}
	if letGo && e.Offset > last+1 {
		return
	}
	i, found := f.at(e.Offset)
	if found {
		if e.skip {
			f.wait[i].skip = true
		}
		return
	}
	if i >= w.hold {
		return
	}
	if len(f.wait) == cap(f.wait) && len(f.wait) < cap(f.buf)/2 {
		// Reuse the front of the array, which the entries handed out
		// (pumpFollow) left behind, rather than grow a new one.
		f.wait = f.buf[:copy(f.buf[:len(f.wait)], f.wait)]
	}
	f.wait = slices.Insert(f.wait, i, e)
	if cap(f.wait) > cap(f.buf) {
		f.buf = f.wait[:0] // grown: a new array, f.wait at its start
	}
	if len(f.wait) > w.hold {
		f.wait = f.wait[:w.hold]
	}
}

// lastHeld is the highest offset f holds, or the last handed out when it
// holds none.
func (f *follow) lastHeld() uint64 {
	if len(f.wait) > 0 {
		return f.wait[len(f.wait)-1].Offset
	}
	return f.next - 1
}

// Skip tells the window that offsets of id are not for this session (its
// own message under No Local, a denied one): they count as done.
func (w *Window) Skip(id StreamID, offsets []uint64, now time.Time) []Send {
	f := w.follows.get(id)
	if f == nil {
		return nil
	}
	for _, o := range offsets {
		w.hold1(f, waiting{StreamEntry: StreamEntry{Offset: o}, skip: true})
	}
	return w.pump(now)
}

// pump hands out what may go now, sub-stream by sub-stream.
func (w *Window) pump(now time.Time) []Send {
	var out []Send
	list, start := w.follows.list, w.follows.start()
	for i := range list {
		f := list[(start+i)%len(list)]
		out = w.pumpFollow(out, f.id, f, now)
	}
	return out
}

// pumpFollow appends to out what f may hand out now.
func (w *Window) pumpFollow(out []Send, id StreamID, f *follow, now time.Time) []Send {
	for !w.paused && len(f.wait) > 0 && f.wait[0].Offset == f.next {
		s, ok := w.handOut(id, f, &f.wait[0], now)
		if !ok {
			break // the window is full
		}
		if s != nil {
			out = append(out, *s)
		}
		f.wait = f.wait[1:]
		f.next++
	}
	return out
}

// handOut decides the entry at f.next: nil Send when it is done without a
// frame (a skip, expired, not the session's), false when it must wait for
// room in the window.
func (w *Window) handOut(id StreamID, f *follow, e *waiting, now time.Time) (*Send, bool) {
	m := &e.Message
	if e.skip || m.Expired(now) || (f.sub.NoLocal && m.Publisher == f.sub.ClientID) { // [MQTT-3.8.3-3]
		w.markDone(f, e.Offset)
		return nil, true
	}
	o := Forwarded(m, f.sub.QoS, f.sub.RetainAsPublished, subIDList(f.sub.SubID))
	dup := e.Offset <= f.dupTo
	if o.QoS == 0 {
		w.markDone(f, e.Offset)
		return &Send{Stream: id, Offset: e.Offset, Out: o}, true
	}
	if len(w.flight) >= w.max || !w.plan.Sendable(f.acked+1, e.Offset) { // [MQTT-3.3.4-9]
		return nil, false
	}
	pid := w.plan.ID(f.slot, e.Offset)
	if w.flight[pid] != nil {
		// Still in flight for a subscription whose number this one took
		// after an UNSUBSCRIBE [MQTT-3.10.4-3]: two messages in flight
		// never share an identifier (section 2.2.1).
		return nil, false
	}
	o.PacketID, o.State = pid, Sent
	fl := &flying{id: id, offset: e.Offset, qos: o.QoS}
	if w.flight == nil {
		w.flight = map[uint16]*flying{}
	}
	w.flight[pid] = fl
	if f.rel[e.Offset] && o.QoS == 2 {
		// Released on an earlier connection: PUBREL, never PUBLISH again
		// [MQTT-4.4.0-1] (section 4.3.3).
		fl.released = true
		return &Send{Stream: id, Offset: e.Offset, Release: true, Out: &Outbound{PacketID: pid, QoS: 2, State: Released}}, true
	}
	return &Send{Stream: id, Offset: e.Offset, Out: o, Dup: dup}, true
}

// Acked handles a PUBACK (QoS 1) for pid: the message is done [MQTT-4.3.2].
func (w *Window) Acked(pid uint16, now time.Time) ([]Send, error) {
	fl := w.flight[pid]
	if fl == nil || fl.qos != 1 {
		return nil, fmt.Errorf("PUBACK %d: %w", pid, ErrUnknownPacket)
	}
	return w.finish(pid, fl, now), nil
}

// Received handles a PUBREC for pid: the message is released, and the
// PUBREL may be written only once Positions including it are saved, so
// that a crash resends PUBREL, not PUBLISH [MQTT-4.4.0-1]. A PUBREC with a
// reason code of 0x80 or more ends the exchange instead (failed: the
// message is done, no PUBREL) (section 4.3.3).
func (w *Window) Received(pid uint16, failed bool, now time.Time) ([]Send, error) {
	fl := w.flight[pid]
	if fl == nil || fl.qos != 2 {
		return nil, fmt.Errorf("PUBREC %d: %w", pid, ErrUnknownPacket)
	}
	if failed {
		return w.finish(pid, fl, now), nil
	}
	if !fl.released {
		fl.released = true
		if f := w.follows.get(fl.id); f != nil {
			f.release(fl.offset)
		}
		w.dirty = true
	}
	return nil, nil
}

// Completed handles a PUBCOMP for pid: the QoS 2 exchange is done.
func (w *Window) Completed(pid uint16, now time.Time) ([]Send, error) {
	fl := w.flight[pid]
	if fl == nil || !fl.released {
		return nil, fmt.Errorf("PUBCOMP %d: %w", pid, ErrUnknownPacket)
	}
	return w.finish(pid, fl, now), nil
}

// finish ends pid's flight and hands out what the room lets go.
func (w *Window) finish(pid uint16, fl *flying, now time.Time) []Send {
	delete(w.flight, pid)
	if f := w.follows.get(fl.id); f != nil {
		w.markDone(f, fl.offset)
	}
	return w.pump(now)
}

// markDone records offset as done and advances acked over the done run.
func (w *Window) markDone(f *follow, offset uint64) {
	switch {
	case offset <= f.acked:
		return
	case offset == f.acked+1:
		// In order, the usual case: no map.
		delete(f.rel, offset)
		f.acked++
	default:
		if f.done == nil {
			f.done = map[uint64]bool{}
		}
		f.done[offset] = true
	}
	w.advance(f)
}

// advance moves acked over the offsets done and the runs gone after it.
func (w *Window) advance(f *follow) {
	for {
		switch {
		case f.done[f.acked+1]:
			delete(f.done, f.acked+1)
			delete(f.rel, f.acked+1)
			f.acked++
		case len(f.gone) > 0 && f.gone[0][0] <= f.acked+1:
			f.acked = max(f.acked, f.gone[0][1]-1)
			f.gone = f.gone[1:]
		default:
			// Emptied maps go, so that a connection past a burst keeps
			// none (they never shrink).
			if len(f.done) == 0 {
				f.done = nil
			}
			if len(f.rel) == 0 {
				f.rel = nil
			}
			w.dirty = true
			return
		}
	}
}

// Gone tells the window that the offsets of id below below that it has
// not handed out no longer exist: a read after next-1 found its first
// entry at below. They were past their retention, or never given (a
// sub-stream with no entry may begin above the offsets it gave before,
// StreamStore). They count as done, without a frame; an entry the window
// holds is never passed over.
func (w *Window) Gone(id StreamID, below uint64, now time.Time) []Send {
	f := w.follows.get(id)
	if f == nil {
		return nil
	}
	if len(f.wait) > 0 {
		below = min(below, f.wait[0].Offset)
	}
	if below <= f.next {
		return w.pump(now)
	}
	f.gone = append(f.gone, [2]uint64{f.next, below})
	f.next = below
	f.seen = max(f.seen, below-1)
	w.advance(f)
	return w.pump(now)
}

// Positions returns the positions to save, and whether they changed since
// the last Saved.
func (w *Window) Positions() (Positions, bool) {
	pos := make(Positions, w.follows.len())
	for _, f := range w.follows.list {
		p := Position{Number: f.number, Acked: f.acked}
		for o := range f.rel {
			p.Released = append(p.Released, o)
		}
		slices.Sort(p.Released)
		pos[f.id] = p
	}
	return pos, w.dirty
}

// Saved tells the window that what Positions returned is durable.
func (w *Window) Saved() { w.dirty = false }

// Inflight returns how many QoS 1/2 messages are in flight.
func (w *Window) Inflight() int { return len(w.flight) }

// Gap is a sub-stream whose next entries the window does not hold: they
// are to be read from the store (ReadStream after After) and offered.
type Gap struct {
	Stream StreamID `json:"stream"`
	After  uint64   `json:"after"`
	// Early: a read of entries the window let go (Due), not of a hole
	// that waited -order-wait; offsets missing at the start of what it
	// reads are not taken as gone (they may be on their way).
	Early bool `json:"early,omitempty"`
}

// Due returns the sub-streams whose entries the window let go (past its
// hold) or was told are behind it (Behind), now that it has room for them
// again: at most half its hold is held. A catch-up reads them at once,
// after the last entry held, without waiting for -order-wait, which is
// for holes a delivery under way may still fill: the entries let go were
// offered, so they are in the store. Without this a sub-stream with more
// than the hold outstanding (a publisher faster than its subscriber, a
// backlog on resume) would pass one hold's worth of entries per
// -order-wait.
func (w *Window) Due() []Gap {
	if w.paused {
		return nil
	}
	var out []Gap
	for _, f := range w.follows.list {
		if last := f.lastHeld(); f.seen > last && len(f.wait) <= w.hold/2 {
			out = append(out, Gap{Stream: f.id, After: last, Early: true})
		}
	}
	slices.SortFunc(out, func(a, b Gap) int {
		return cmp.Or(cmp.Compare(a.Stream.Filter, b.Stream.Filter), cmp.Compare(a.Stream.Shard, b.Stream.Shard))
	})
	return out
}

// Gaps returns the sub-streams with entries offered and let go, or with a
// hole in front of what is held: a catch-up reads them. A gap found while
// a delivery may still be on its way is normal; its owner waits
// (-order-wait) before asking.
func (w *Window) Gaps() []Gap {
	if w.paused {
		return nil
	}
	var out []Gap
	for _, f := range w.follows.list {
		if len(f.wait) > 0 && f.wait[0].Offset > f.next {
			out = append(out, Gap{Stream: f.id, After: f.next - 1})
			continue
		}
		if len(f.wait) == 0 && f.seen >= f.next {
			out = append(out, Gap{Stream: f.id, After: f.next - 1})
		}
	}
	slices.SortFunc(out, func(a, b Gap) int {
		return cmp.Or(cmp.Compare(a.Stream.Filter, b.Stream.Filter), cmp.Compare(a.Stream.Shard, b.Stream.Shard))
	})
	return out
}

// CatchUpFrom returns where a session that has acknowledged up to acked
// reads a sub-stream whose head is head, when it keeps at most maxQueued
// messages a sub-stream: a session further behind skips its oldest,
// counted as dropped (-max-queued), rather than refusing the newest.
func CatchUpFrom(acked, head uint64, maxQueued int) (after, dropped uint64) {
	if maxQueued > 0 && head > acked+uint64(maxQueued) {
		return head - uint64(maxQueued), head - uint64(maxQueued) - acked
	}
	return acked, 0
}
