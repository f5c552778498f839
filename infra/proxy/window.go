package proxy

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
)

// This file is the proxy's half of delivery v2 (core/session/v2.go;
// docs/architecture.md, "Delivery v2", "Wiring (step 4)"). A connection
// whose CONNACK carried a WindowSpec runs a session.Window: the handlers'
// replies and deliveries tell it what to follow and offer it entries, the
// window says what to write and in which order (per sub-stream, by offset
// [MQTT-4.6.0-6]); the PUBLISH frames are encoded here with the core's rule
// (session.EncodeOutbound). Acknowledgements of the window's packet
// identifiers (PIDPlan.Owns) never reach the handlers: the reader hands
// them to the window (takeAcks). Positions are saved through KindPositions
// events: every saveEveryAcks acknowledgements and before the PUBRELs
// that PUBRECs call for [MQTT-4.4.0-1] (saveSoon: beside the reader, which
// does not wait; the PUBRELs go out once the save succeeded),
// PositionSave after the first unsaved change (the pacer), before a
// DISCONNECT and at the end of the connection (those two waited for). A
// gap no delivery fills within OrderWait is read through a KindCatchUp
// event.

// saveEveryAcks is how many acknowledgements the window takes before its
// positions are saved, at the latest.
const saveEveryAcks = 20

// streamWin is a connection's delivery v2 state. win and the fields down
// to saveMu are guarded by conn.mu; the conn's reader creates it (under
// mu) when the CONNACK is applied, and it lives as long as the connection.
type streamWin struct {
	win  *session.Window
	plan session.PIDPlan
	// who is the session's connection state as far as a side event needs
	// it (client id, identity): the reader owns conn.state, so the pacer
	// gets this copy.
	who *session.ConnState
	// gen counts the window's changes; savedGen is the gen of the last
	// positions saved, dirtySince when the first change after it came.
	gen, savedGen uint64
	dirtySince    time.Time
	acks          int // acknowledgements since the last save
	// gaps are the gaps the window showed, since when; probes are follows
	// to read once after OrderWait (a message appended while the follow
	// was set up reaches no delivery). Both are nil when empty: an idle
	// connection keeps no map for them (S4).
	gaps   map[session.StreamID]gapMark
	probes map[session.StreamID]time.Time

	// rels are the packet identifiers whose PUBREC came and whose PUBREL
	// waits for a save of positions holding their release, in the order
	// the PUBRECs came [MQTT-4.6.0-3]: the first save to snapshot the
	// positions after them takes them and writes their PUBRELs once it
	// succeeded [MQTT-4.4.0-1].
	rels []uint16
	// saving is set while a saveSoon goroutine runs; again asks it to
	// save once more (changes came while it was saving).
	saving, again bool

	// saveMu serializes the saves of the connection's positions (snapshot,
	// event and the PUBRELs they let go), so that an older snapshot never
	// lands after a newer one and PUBRELs keep their order.
	saveMu sync.Mutex
	// busy is set while the pacer works on the connection.
	busy atomic.Bool
	// catching is set while a catch-up of due sub-streams runs
	// (catchUpDueLocked); quietUntil holds the next one back after one
	// that read nothing, leaving those sub-streams to the pacer's gaps.
	catching   bool
	quietUntil time.Time
}

type gapMark struct {
	after uint64
	since time.Time
}

// startWindowLocked starts the connection's window. mu must be held.
func (c *conn) startWindowLocked(spec *session.WindowSpec, st *session.ConnState) {
	if c.sw != nil || spec == nil {
		return
	}
	win := session.NewWindow(spec.Plan, spec.Max, spec.Hold)
	if spec.Paused {
		win.Pause() // until StreamWork.Resume: v1's queue goes first
	}
	c.sw = &streamWin{win: win, plan: spec.Plan,
		who: &session.ConnState{ClientID: st.ClientID, Version: st.Version, Identity: st.Identity, Username: st.Username, Bound: st.Bound}}
	c.srv.pacer.add(c)
}

// applyStreamLocked applies a reply's StreamWork after its frames. mu must
// be held.
func (c *conn) applyStreamLocked(w *session.StreamWork, st *session.ConnState) {
	if w.Window != nil && st != nil {
		c.startWindowLocked(w.Window, st)
	}
	sw := c.sw
	if sw == nil || c.closed {
		return
	}
	now := time.Now()
	for _, id := range w.Unfollows {
		sw.win.Unfollow(id)
		delete(sw.probes, id)
		sw.changed(now)
	}
	before := c.queued
	for _, f := range w.Follows {
		sw.win.Follow(f.Stream, f.Sub, f.Position, f.DupTo)
		sw.win.Behind(f.Stream, f.Head)
		if sw.probes == nil {
			sw.probes = map[session.StreamID]time.Time{}
		}
		sw.probes[f.Stream] = now
		if f.GoneBelow > 0 && !c.writeSendsLocked(sw.win.Gone(f.Stream, f.GoneBelow, now), &before) {
			return
		}
		if !c.writeSendsLocked(sw.win.Offer(f.Stream, f.Entries, now), &before) {
			return
		}
		if len(f.Skips) > 0 && !c.writeSendsLocked(sw.win.Skip(f.Stream, f.Skips, now), &before) {
			return
		}
	}
	if !c.offerLocked(w.Entries, &before) {
		return
	}
	if w.Resume && !c.writeSendsLocked(sw.win.Resume(now), &before) {
		return
	}
	c.queuedChanged(c.queued - before)
	c.kick()
	c.catchUpDueLocked()
}

// offerLocked offers entries to the window and queues what it hands out;
// false when the connection closed (a full queue). mu must be held;
// before as addLocked's.
func (c *conn) offerLocked(ds []session.StreamDelivery, before *int) bool {
	sw := c.sw
	if sw == nil {
		return true
	}
	now := time.Now()
	for _, d := range ds {
		if d.GoneBelow > 0 && !c.writeSendsLocked(sw.win.Gone(d.Stream, d.GoneBelow, now), before) {
			return false
		}
		if len(d.Entries) > 0 && !c.writeSendsLocked(sw.win.Offer(d.Stream, d.Entries, now), before) {
			return false
		}
		if len(d.Skips) > 0 && !c.writeSendsLocked(sw.win.Skip(d.Stream, d.Skips, now), before) {
			return false
		}
	}
	return true
}

// pushStreams offers a delivery's entries to the window; false when the
// connection is closed.
func (c *conn) pushStreams(ds []session.StreamDelivery) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.closeAfter {
		return false
	}
	before := c.queued
	if !c.offerLocked(ds, &before) {
		return false
	}
	c.queuedChanged(c.queued - before)
	c.kick()
	c.catchUpDueLocked()
	return true
}

// writeSendsLocked encodes and queues what the window handed out, in its
// order; false when the connection closed. A PUBLISH larger than the
// client's Maximum Packet Size is dropped as if sent and acknowledged
// [MQTT-3.1.2-25]. mu must be held.
func (c *conn) writeSendsLocked(sends []session.Send, before *int) bool {
	sw := c.sw
	now := time.Now()
	for len(sends) > 0 {
		s := sends[0]
		sends = sends[1:]
		sw.changed(now)
		var f []byte
		var err error
		if s.Release {
			f, err = (&packet.Pubrel{PacketID: s.Out.PacketID}).Append(nil, c.version) // [MQTT-4.4.0-1]
		} else {
			f, err = session.EncodeOutbound(s.Out, s.Dup, c.version, c.maxPacket, now)
		}
		if err != nil {
			c.srv.log.Debug("window message not written", "conn", c.id, "topic", s.Out.Message.Topic, "err", err)
			if s.Out.QoS > 0 {
				sends = append(sends, c.settleLocked(s.Out.PacketID, s.Out.QoS, now)...)
			}
			continue
		}
		if !c.addLocked(f, before) {
			return false
		}
	}
	return true
}

// settleLocked ends the flight of a message that was not written, as if
// the client had acknowledged it, and returns what that lets go.
func (c *conn) settleLocked(pid uint16, qos byte, now time.Time) []session.Send {
	w := c.sw.win
	if qos == 1 {
		s, _ := w.Acked(pid, now)
		return s
	}
	s, _ := w.Received(pid, true, now) // failed: done, no PUBREL
	return s
}

// changed records a change of the window's positions.
func (sw *streamWin) changed(now time.Time) {
	if sw.gen == sw.savedGen {
		sw.dirtySince = now
	}
	sw.gen++
}

// takeAcks hands the acknowledgements of the window's packet identifiers
// among frames to the window and returns the other frames, for the
// handlers. Released QoS 2 messages get their PUBREL once the positions
// holding them are saved [MQTT-4.4.0-1]; positions are saved every
// saveEveryAcks acknowledgements too. Those saves run beside the reader
// (saveSoon), which goes on taking acknowledgements meanwhile: the window
// keeps turning over while a save is on its way, and the PUBRECs that
// come meanwhile share the next save. Only a DISCONNECT waits here for
// the save. It reports false when the connection ends.
func (c *conn) takeAcks(frames [][]byte) ([][]byte, bool) {
	c.mu.Lock()
	sw := c.sw
	if sw == nil {
		c.mu.Unlock()
		return frames, true
	}
	v := c.version
	now := time.Now()
	kept := frames[:0]
	var pubrels []uint16
	before := c.queued
	ok := true
	for _, f := range frames {
		pid, kind, rcErr := windowAck(f, v)
		if kind == 0 || !sw.plan.Owns(pid) || !sw.win.Flying(pid) {
			// Not the window's: the per-member queues', or a message v1
			// put in flight before a migration (Window.Flying), or no
			// message at all, which the handlers answer (section 4.3.3).
			kept = append(kept, f)
			continue
		}
		var sends []session.Send
		var err error
		switch kind {
		case packet.PUBACK:
			sends, err = sw.win.Acked(pid, now) // [MQTT-4.3.2]
		case packet.PUBREC:
			sends, err = sw.win.Received(pid, rcErr, now)
			if err == nil && !rcErr {
				pubrels = append(pubrels, pid)
			}
		case packet.PUBCOMP:
			sends, err = sw.win.Completed(pid, now)
		}
		if err != nil {
			c.srv.log.Debug("acknowledgement of no window message ignored", "conn", c.id, "type", kind, "id", pid, "err", err)
			continue
		}
		sw.acks++
		sw.changed(now)
		if ok {
			ok = c.writeSendsLocked(sends, &before)
		}
	}
	if ok {
		c.queuedChanged(c.queued - before)
		c.kick()
		c.catchUpDueLocked()
	}
	sw.rels = append(sw.rels, pubrels...)
	due := sw.acks >= saveEveryAcks || len(pubrels) > 0
	disconnect := false
	for _, f := range kept {
		if len(f) > 0 && packet.Type(f[0]>>4) == packet.DISCONNECT {
			// The handlers end the connection's hold on the session at
			// DISCONNECT, and a save after it is fenced: save first.
			disconnect = true
		}
	}
	c.mu.Unlock()
	if !ok {
		return nil, false
	}
	switch {
	case disconnect:
		if !c.savePositions(false) {
			c.close()
			return nil, false
		}
	case due:
		c.saveSoon()
	}
	return kept, true
}

// saveSoon saves the connection's positions on a goroutine of its own,
// which writes the PUBRELs the save lets go; while one runs, it saves
// once more when it is done, with every change and PUBREC that came
// meanwhile. A failed save closes the connection: the PUBRELs it held
// are not written, and the session's next connection resends the
// PUBLISH, never having sent a PUBREL for it [MQTT-4.4.0-1].
func (c *conn) saveSoon() {
	c.mu.Lock()
	sw := c.sw
	if sw == nil || c.closed {
		c.mu.Unlock()
		return
	}
	if sw.saving {
		sw.again = true
		c.mu.Unlock()
		return
	}
	sw.saving = true
	c.mu.Unlock()
	go func() {
		for {
			if !c.savePositions(false) {
				c.close()
			}
			c.mu.Lock()
			if !sw.again || c.closed {
				sw.saving, sw.again = false, false
				c.mu.Unlock()
				return
			}
			sw.again = false
			c.mu.Unlock()
		}
	}()
}

// windowAck returns the packet identifier and type of a PUBACK, PUBREC or
// PUBCOMP frame (0 for any other, or one that does not decode: the
// handlers answer it), and for a PUBREC whether its reason code is an
// error (the exchange ends there, section 4.3.3).
func windowAck(f []byte, v packet.Version) (uint16, packet.Type, bool) {
	if len(f) == 0 {
		return 0, 0, false
	}
	switch t := packet.Type(f[0] >> 4); t {
	case packet.PUBACK:
		var p packet.Puback
		if p.Decode(f, v) == nil {
			return p.PacketID, t, false
		}
	case packet.PUBREC:
		var p packet.Pubrec
		if p.Decode(f, v) == nil {
			return p.PacketID, t, p.ReasonCode.IsError()
		}
	case packet.PUBCOMP:
		var p packet.Pubcomp
		if p.Decode(f, v) == nil {
			return p.PacketID, t, false
		}
	}
	return 0, 0, false
}

// savePositions saves the window's positions if they changed since the
// last save (or always, with force) through a KindPositions event, then
// writes the PUBRELs waiting for a save when it began (sw.rels): the
// positions it saved hold their release [MQTT-4.4.0-1]. It reports false
// when they could not be saved: the connection was taken over or the
// handlers failed.
func (c *conn) savePositions(force bool) bool {
	c.mu.Lock()
	sw := c.sw
	c.mu.Unlock()
	if sw == nil {
		return true
	}
	sw.saveMu.Lock()
	defer sw.saveMu.Unlock()
	c.mu.Lock()
	pos, _ := sw.win.Positions()
	gen, dirty, acks := sw.gen, sw.gen != sw.savedGen, sw.acks
	who := sw.who
	rels := sw.rels
	sw.rels = nil
	v := c.version
	c.mu.Unlock()
	if !dirty && !force && len(rels) == 0 {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.srv.cfg.InvokeTimeout)
	defer cancel()
	reply, err := c.srv.invoke(ctx, &session.Event{Kind: session.KindPositions, Proxy: c.srv.cfg.ID, Conn: c.id,
		State: who, Positions: session.PositionList(pos)})
	if err != nil || reply == nil || reply.Stream == nil || !reply.Stream.Saved {
		c.srv.log.Debug("positions not saved", "conn", c.id, "err", err)
		c.mu.Lock()
		sw.rels = append(rels, sw.rels...) // for the next save, if the connection stays
		c.mu.Unlock()
		return false
	}
	c.mu.Lock()
	if sw.savedGen < gen {
		sw.savedGen = gen
		sw.acks = max(0, sw.acks-acks) // those taken since the snapshot count on
		if sw.gen == gen {
			sw.win.Saved()
		} else {
			sw.dirtySince = time.Now()
		}
	}
	c.mu.Unlock()
	if len(rels) > 0 {
		out := make([][]byte, 0, len(rels))
		for _, pid := range rels {
			b, _ := (&packet.Pubrel{PacketID: pid}).Append(nil, v) // section 4.3.3
			out = append(out, b)
		}
		return c.push(out, false) // false: the connection is closing
	}
	return true
}

// catchUp reads the sub-streams of gaps through a KindCatchUp event and
// offers what it finds. It reports how many entries it read.
func (c *conn) catchUp(gaps []session.Gap) int {
	c.mu.Lock()
	sw := c.sw
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), c.srv.cfg.InvokeTimeout)
	defer cancel()
	reply, err := c.srv.invoke(ctx, &session.Event{Kind: session.KindCatchUp, Proxy: c.srv.cfg.ID, Conn: c.id,
		State: sw.who, Gaps: gaps})
	if err != nil || reply == nil || reply.Stream == nil {
		c.srv.log.Debug("catch-up failed", "conn", c.id, "err", err)
		return 0
	}
	n := 0
	for _, d := range reply.Stream.Entries {
		n += len(d.Entries) + len(d.Skips)
	}
	c.pushStreams(reply.Stream.Entries)
	return n
}

// catchUpDueLocked reads, on a goroutine of its own, the sub-streams
// whose let-go entries the window has room for again (Window.Due), unless
// such a read runs already; once it is done it looks again, so that a
// backlog longer than the window's hold streams through without waiting
// for -order-wait at every hold's worth. A read that finds nothing, or
// leaves the window due as it was, holds the next one back for
// -order-wait (the pacer's gaps read them then): the store is not asked
// again at every acknowledgement. mu must be held.
func (c *conn) catchUpDueLocked() {
	sw := c.sw
	if sw == nil || sw.catching || c.closed || c.closeAfter {
		return
	}
	now := time.Now()
	if now.Before(sw.quietUntil) {
		return
	}
	due := sw.win.Due()
	if len(due) == 0 {
		return
	}
	sw.catching = true
	go func() {
		n := c.catchUp(due)
		c.mu.Lock()
		defer c.mu.Unlock()
		sw.catching = false
		if n == 0 || slices.Equal(due, sw.win.Due()) {
			// Nothing read, or nothing the window did not hold already:
			// no progress to be had by asking again now.
			sw.quietUntil = time.Now().Add(c.srv.cfg.OrderWait)
			return
		}
		c.catchUpDueLocked()
	}()
}

// pace does the connection's timed window work: a save PositionSave after
// the first unsaved change, a catch-up of the gaps open for OrderWait and
// of the follows to probe. While the work of an earlier pace runs, it
// leaves the gaps and probes as they are, for a later pace: a probe
// dropped then would leave a message appended while its follow was set
// up unread until the next delivery on its sub-stream.
func (c *conn) pace(now time.Time) {
	c.mu.Lock()
	sw := c.sw
	if sw == nil || c.closed {
		c.mu.Unlock()
		return
	}
	if !sw.busy.CompareAndSwap(false, true) {
		c.mu.Unlock()
		return
	}
	save := sw.gen != sw.savedGen && now.Sub(sw.dirtySince) >= c.srv.cfg.PositionSave
	var read []session.Gap
	gaps := sw.win.Gaps()
	open := func(id session.StreamID) bool {
		return slices.ContainsFunc(gaps, func(g session.Gap) bool { return g.Stream == id })
	}
	for _, g := range gaps {
		m, ok := sw.gaps[g.Stream]
		if !ok || m.after != g.After {
			if sw.gaps == nil {
				sw.gaps = map[session.StreamID]gapMark{}
			}
			sw.gaps[g.Stream] = gapMark{after: g.After, since: now}
			continue
		}
		if now.Sub(m.since) >= c.srv.cfg.OrderWait {
			read = append(read, g)
			sw.gaps[g.Stream] = gapMark{after: g.After, since: now}
		}
	}
	for id := range sw.gaps {
		if !open(id) {
			delete(sw.gaps, id)
		}
	}
	for id, at := range sw.probes {
		if now.Sub(at) < c.srv.cfg.OrderWait {
			continue
		}
		delete(sw.probes, id)
		if next, ok := sw.win.Next(id); ok && !open(id) {
			read = append(read, session.Gap{Stream: id, After: next - 1})
		}
	}
	// Emptied maps go (they never shrink).
	if len(sw.gaps) == 0 {
		sw.gaps = nil
	}
	if len(sw.probes) == 0 {
		sw.probes = nil
	}
	c.mu.Unlock()
	if !save && len(read) == 0 {
		sw.busy.Store(false)
		return
	}
	go func() {
		defer sw.busy.Store(false)
		if len(read) > 0 {
			c.catchUp(read)
		}
		if save {
			c.savePositions(false)
		}
	}()
}

// pacer runs the timed window work of the connections with a window, on
// one goroutine that runs while there are any.
type pacer struct {
	srv     *Server
	mu      sync.Mutex
	conns   map[*conn]struct{}
	running bool
}

func (p *pacer) add(c *conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		p.conns = map[*conn]struct{}{}
	}
	p.conns[c] = struct{}{}
	if !p.running {
		p.running = true
		go p.loop()
	}
}

func (p *pacer) remove(c *conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

func (p *pacer) loop() {
	period := min(p.srv.cfg.OrderWait, p.srv.cfg.PositionSave) / 4
	period = max(min(period, 250*time.Millisecond), 10*time.Millisecond)
	t := time.NewTicker(period)
	defer t.Stop()
	for now := range t.C {
		p.mu.Lock()
		if len(p.conns) == 0 {
			p.running = false
			p.mu.Unlock()
			return
		}
		conns := make([]*conn, 0, len(p.conns))
		for c := range p.conns {
			conns = append(conns, c)
		}
		p.mu.Unlock()
		for _, c := range conns {
			c.pace(now)
		}
	}
}

// endWindow saves the positions of a connection that ends, before its
// lost event, and stops pacing it.
func (c *conn) endWindow() {
	c.mu.Lock()
	sw := c.sw
	c.mu.Unlock()
	if sw == nil {
		return
	}
	c.srv.pacer.remove(c)
	c.savePositions(false)
}
