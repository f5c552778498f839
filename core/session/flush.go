package session

import (
	"errors"
	"slices"
	"sync"

	"github.com/mqttless/mqttless/core/packet"
)

// Store work deferred within one call.
//
// One event carries up to 64 frames of one connection, and each store
// write costs a commit. fanOut therefore does not enqueue QoS 1 and 2
// messages (nor QoS 0 ones for offline sessions) itself: it queues them per
// subscriber in the call, and flush writes each subscriber's run of them
// with one Store.Enqueue. What depends on those writes being durable waits
// for the flush: the PUBACK or PUBREC of the message (a placeholder in
// reply.Packets until then; the reply is written only after Handle
// returns) and the MarkFannedOut of a QoS 2 message. Handle flushes at the end
// of the event, and before the frames whose handling could observe the
// deferred writes (see needsFlush).

// fanout counts the sessions a message went to (n), and those whose queue
// was full (full, past -max-queued, -max-queued-bytes or -max-store-bytes):
// the counts are final after the flush, when the enqueues it waited for
// are done.
type fanout struct{ n, full int }

// pendingOut is the work deferred for one subscriber, in fan-out order.
type pendingOut struct {
	s     *Session // as fanOut last read it
	items []pendingItem
}

// pendingItem is a message to enqueue (o set) or, once an earlier message
// of the call waits to be enqueued for the same session, a QoS 0 frame to
// deliver after it, keeping the order of the messages.
type pendingItem struct {
	o     *Outbound
	frame []byte
	f     *fanout
	topic string
}

// pendingAck is a PUBACK or PUBREC placeholder in reply.Packets.
type pendingAck struct {
	idx      int
	qos      byte
	packetID uint16
	f        *fanout
}

// queueOut defers the enqueue of o for session s.
func (c *call) queueOut(s *Session, o *Outbound, f *fanout) {
	p := c.pendingFor(s)
	p.items = append(p.items, pendingItem{o: o, f: f, topic: o.Message.Topic})
}

func (c *call) pendingFor(s *Session) *pendingOut {
	if p := c.pendingBy[s.ClientID]; p != nil {
		p.s = s
		return p
	}
	if c.pendingBy == nil {
		c.pendingBy = make(map[string]*pendingOut)
	}
	p := &pendingOut{s: s}
	c.pendingBy[s.ClientID] = p
	c.pending = append(c.pending, p)
	return p
}

// ackLater answers PUBLISH p with a PUBACK or PUBREC once the flush has
// made its deliveries durable, with the reason code f's count gives.
func (c *call) ackLater(p *packet.Publish, f *fanout) {
	c.acks = append(c.acks, pendingAck{idx: len(c.reply.Packets), qos: p.QoS, packetID: p.PacketID, f: f})
	c.reply.Packets = append(c.reply.Packets, nil)
}

// markFannedOut defers the MarkFannedOut of QoS 2 packetID to the flush.
func (c *call) markFannedOut(packetID uint16) {
	if c.marked == nil {
		c.marked = make(map[uint16]bool)
	}
	if !c.marked[packetID] {
		c.marked[packetID] = true
		c.marks = append(c.marks, packetID)
	}
}

// pendingWork reports whether anything waits for a flush.
func (c *call) pendingWork() bool {
	return len(c.pending) > 0 || len(c.marks) > 0 || len(c.acks) > 0 || len(c.appends) > 0
}

// flush does the deferred store work: the enqueues, then the MarkFannedOut
// calls, and then fills in the acknowledgements. When a store write fails
// the acknowledgements are dropped (the client resends), and the error is
// returned.
func (c *call) flush() error {
	if !c.pendingWork() {
		return nil
	}
	err := c.flushAppends()
	for _, p := range c.pending {
		if err != nil {
			break
		}
		err = c.flushOut(p)
	}
	c.pending, c.pendingBy = nil, nil
	if err == nil {
		for _, id := range c.marks {
			if err = c.h.store.MarkFannedOut(c.ctx, c.st.ClientID, c.ev.Conn, id); err != nil {
				break
			}
		}
	}
	c.marks, c.marked = nil, nil
	for _, a := range c.acks {
		if err != nil {
			continue
		}
		var p packet.Packet = &packet.Puback{PacketID: a.packetID, ReasonCode: pubackCode(a.f)}
		if a.qos == 2 {
			p = &packet.Pubrec{PacketID: a.packetID, ReasonCode: matchedCode(a.f.n)}
		}
		b, aerr := p.Append(nil, c.version())
		if aerr != nil {
			c.h.log.Error("encode failed", "type", p.Type(), "err", aerr)
			continue
		}
		c.reply.Packets[a.idx] = b
	}
	if len(c.acks) > 0 {
		c.reply.Packets = slices.DeleteFunc(c.reply.Packets, func(b []byte) bool { return b == nil })
	}
	c.acks = nil
	return err
}

// flushOut writes the deferred messages of one subscriber: each run of
// messages to enqueue with one Store.Enqueue, the QoS 0 frames between
// them delivered in place.
func (c *call) flushOut(p *pendingOut) error {
	s := p.s
	window := 0
	if s.Online() {
		window = int(s.ReceiveMax)
	}
	items := p.items
	for len(items) > 0 {
		if items[0].o == nil {
			c.deliver(s, items[0].frame)
			items = items[1:]
			continue
		}
		j := 1
		for j < len(items) && items[j].o != nil {
			j++
		}
		if err := c.enqueue(s, items[:j], window); err != nil {
			return err
		}
		items = items[j:]
	}
	return nil
}

// enqueue appends the messages of run to the queue of s and sends what
// that puts in flight. A message is counted as delivered once the queue
// accepted it. When the queue is full but the enqueue dispatched (freeing
// room), the rest is enqueued again: one message at a time, each queued
// message would have found that room.
func (c *call) enqueue(s *Session, run []pendingItem, window int) error {
	msgs := make([]*Outbound, len(run))
	for i := range run {
		msgs[i] = run[i].o
	}
	for len(run) > 0 {
		accepted, out, err := c.h.store.Enqueue(c.ctx, s.ClientID, msgs, c.h.cfg.queueLimit(), s.Conn, window)
		if errors.Is(err, ErrNotFound) {
			// The session ended (its client disconnected, or it expired)
			// since fanOut read it: it no longer subscribes, and its end must
			// not fail the publisher's call.
			return nil
		}
		fenced := errors.Is(err, ErrFenced)
		if err != nil && !fenced {
			return err
		}
		for i := range accepted {
			run[i].f.n++
		}
		if !fenced {
			err = c.sendOut(s, out, window)
		}
		if errors.Is(err, ErrFenced) {
			// Queued, not sent: the client moved since fanOut read s.
			if err := c.moved(s); err != nil {
				return err
			}
			out, err = nil, nil
		}
		if err != nil {
			return err
		}
		run, msgs = run[accepted:], msgs[accepted:]
		switch {
		case len(run) == 0:
		case len(out) == 0:
			// Full, and nothing left the queue: the rest is dropped.
			for i := range run {
				run[i].f.full++
			}
			c.dropped(s, run[0].topic, len(run))
			return nil
		case accepted == 0:
			run[0].f.full++
			c.dropped(s, run[0].topic, 1)
			run, msgs = run[1:], msgs[1:]
		}
	}
	return nil
}

// sendOut sends messages the store put in flight for s, dropping those
// that expired in the queue [MQTT-3.3.2-5]; when that freed room in the
// window, it dispatches again.
func (c *call) sendOut(s *Session, out []*Outbound, window int) error {
	for {
		freed := false
		for _, d := range out {
			expired, err := c.dropExpired(s.ClientID, s.Conn, d)
			if err != nil {
				return err
			}
			if expired {
				freed = freed || d.QoS > 0
				c.deliverOut(s, d, nil) // its place in the order, unsent
				continue
			}
			c.deliverOut(s, d, c.encodeOut(d, false, s.Version, 0)) // [MQTT-4.6.0-6] order.go
		}
		if !freed || window == 0 {
			return nil
		}
		var err error
		if out, err = c.h.store.Dispatch(c.ctx, s.ClientID, s.Conn, window); err != nil {
			return err
		}
	}
}

// finish ends a call: the deferred store work, and the acknowledgements
// from the client with the dispatch they asked for.
func (c *call) finish() error {
	err := c.flush()
	if derr := c.flushDispatch(); err == nil {
		err = derr
	}
	return err
}

// ended is a PUBACK (qos 1) or PUBCOMP (qos 2) from the client.
type ended struct {
	qos      byte
	packetID uint16
}

// flushDispatch ends the exchanges of a run of PUBACK and PUBCOMP frames,
// then dispatches to this connection once for all of them.
func (c *call) flushDispatch() error {
	if !c.needDispatch {
		return nil
	}
	c.needDispatch = false
	if c.st == nil {
		return nil
	}
	closing := c.reply.Close
	if err := c.endExchanges(); err != nil || c.reply.Close && !closing {
		return err // fenced: taken over, closed, nothing to dispatch
	}
	if err := c.dispatch(); err != nil {
		return err
	}
	return c.resumeStreams()
}

// endExchanges applies the PUBACK and PUBCOMP frames of a run. The store
// calls are independent of each other (each ends the exchange of its own
// packet id; an unknown one is ignored), so they run concurrently: a store
// that groups concurrent writes into one commit (boltstore's WithBatch)
// then commits the run at once instead of once per frame. Each is fenced
// on this connection: once it was taken over, they end nothing (the
// session they acknowledge is one its client has left, or resumed
// elsewhere, where what is in flight is resent), and the connection is
// closed as the takeover closes it (storeErr).
func (c *call) endExchanges() error {
	ends := c.ends
	c.ends = nil
	end := func(e ended) error {
		var err error
		if e.qos == 1 {
			err = c.h.store.Acknowledge(c.ctx, c.st.ClientID, c.ev.Conn, e.packetID)
		} else {
			err = c.h.store.Complete(c.ctx, c.st.ClientID, c.ev.Conn, e.packetID)
		}
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	}
	if len(ends) == 1 {
		return c.storeErr(end(ends[0]))
	}
	errs := make([]error, len(ends))
	var wg sync.WaitGroup
	for i, e := range ends {
		wg.Go(func() { errs[i] = end(e) })
	}
	wg.Wait()
	fenced := false
	for _, err := range errs {
		switch {
		case errors.Is(err, ErrFenced):
			fenced = true
		case err != nil:
			return err
		}
	}
	if fenced {
		return c.storeErr(ErrFenced)
	}
	return nil
}
