package proxy

import (
	"slices"
	"time"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
)

// Order of a session's QoS 1 and 2 PUBLISH frames [MQTT-4.6.0-6]. Several
// handler calls hand out frames for one connection at once (the
// publisher's, the subscriber's own), and each reply or delivery arrives
// when its call is done, so arrival order is not the order in which the
// store put the messages in flight. Each such frame comes with a
// session.Order (see core/session/order.go): the connection writes it only
// once the frame it names as After has been written or skipped, and holds
// it until then. A frame whose predecessor never comes (its call failed
// after the store step, or its delivery was lost between proxies) is
// written after orderWait, with the frames held behind it, in Seq order,
// and counted (Server.OrderGaps).

// orderState is what a connection holds to write its session's frames in
// order. conn.mu guards it.
type orderState struct {
	last      uint64      // the highest Seq written or skipped
	held      []heldFrame // frames waiting for their After, by Seq
	heldBytes int
	timer     *time.Timer // writes the held frames when orderWait passes
}

// heldFrame is a frame waiting for its predecessor; frame is nil for a
// skip.
type heldFrame struct {
	ord   session.Order
	frame []byte
}

// orderWait is how long a frame waits for its predecessor (-order-wait).
// The call that handed the predecessor out answers within milliseconds
// when all is well, but it may have failed after the store step (a
// Store error, a function that died with its proxy), and then the
// predecessor never comes until the client reconnects: every frame of the
// session waits this long, so it is short, not the invoke timeout. A
// predecessor slower than this is written after its successors.
func (c *conn) orderWait() time.Duration { return c.srv.cfg.OrderWait }

// placeLocked queues frames, each QoS 1 or 2 PUBLISH frame that order
// places after its predecessor, then the frames that were waiting for
// them. before is c.queued when the caller took mu (see addLocked);
// bounded applies MaxSendBytes to frames (not to a CONNECT's reply, see
// establish). It returns false when the connection closed: its queue
// overflowed.
func (c *conn) placeLocked(frames [][]byte, order []session.Order, before *int, bounded bool) bool {
	// A reply or delivery holds a window's worth of frames at most, as a
	// rule a few: a map only for many.
	var byPID map[uint16]session.Order
	if len(order) > 16 {
		byPID = make(map[uint16]session.Order, len(order))
		for _, o := range order {
			if !o.Skip {
				byPID[o.PacketID] = o
			}
		}
	}
	find := func(pid uint16) (session.Order, bool) {
		if byPID != nil {
			o, ok := byPID[pid]
			return o, ok
		}
		for _, o := range order {
			if !o.Skip && o.PacketID == pid {
				return o, true
			}
		}
		return session.Order{}, false
	}
	for _, f := range frames {
		o, tagged := session.Order{}, false
		if len(order) > 0 {
			if pid, ok := publishPacketID(f); ok {
				o, tagged = find(pid)
			}
		}
		if tagged && o.After > c.ord.last {
			if !c.holdLocked(o, f, before) {
				return false
			}
			continue
		}
		if !bounded {
			c.appendLocked(f)
		} else if !c.addLocked(f, before) {
			return false
		}
		if tagged {
			c.ord.last = max(c.ord.last, o.Seq)
		}
	}
	for _, o := range order {
		if !o.Skip {
			continue
		}
		if o.After > c.ord.last {
			if !c.holdLocked(o, nil, before) {
				return false
			}
			continue
		}
		c.ord.last = max(c.ord.last, o.Seq)
	}
	return c.releaseLocked(before, false)
}

// holdLocked keeps f until its predecessor is written. Held frames count
// against MaxSendBytes as queued ones do.
func (c *conn) holdLocked(o session.Order, f []byte, before *int) bool {
	if c.queued+c.inWrite+c.ord.heldBytes+len(f) > c.srv.cfg.MaxSendBytes {
		c.srv.log.Warn("send queue full, closing slow consumer", "conn", c.id)
		c.queuedChanged(c.queued - *before)
		c.slowConsumerLocked()
		return false
	}
	i, _ := slices.BinarySearchFunc(c.ord.held, o.Seq, func(h heldFrame, seq uint64) int {
		switch {
		case h.ord.Seq < seq:
			return -1
		case h.ord.Seq > seq:
			return 1
		}
		return 0
	})
	c.ord.held = slices.Insert(c.ord.held, i, heldFrame{ord: o, frame: f})
	c.ord.heldBytes += len(f)
	if c.ord.timer == nil {
		c.ord.timer = time.AfterFunc(c.orderWait(), c.orderTimedOut)
	}
	return true
}

// releaseLocked queues the held frames whose predecessor has been written,
// in Seq order, or, with all, every held frame.
func (c *conn) releaseLocked(before *int, all bool) bool {
	for len(c.ord.held) > 0 {
		h := c.ord.held[0]
		if !all && h.ord.After > c.ord.last {
			break
		}
		c.ord.held = c.ord.held[1:]
		c.ord.heldBytes -= len(h.frame)
		if h.frame != nil && !c.addLocked(h.frame, before) {
			return false
		}
		c.ord.last = max(c.ord.last, h.ord.Seq)
	}
	if len(c.ord.held) == 0 {
		c.ord.held, c.ord.heldBytes = nil, 0
		if c.ord.timer != nil {
			c.ord.timer.Stop()
			c.ord.timer = nil
		}
	}
	return true
}

// orderTimedOut writes what waited orderWait for a predecessor that did
// not come.
func (c *conn) orderTimedOut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ord.timer = nil
	if c.closed || len(c.ord.held) == 0 {
		return
	}
	c.srv.OrderGaps.Add(1)
	c.srv.log.Warn("a delivery's predecessor did not come; writing what waited for it",
		"conn", c.id, "after", c.ord.held[0].ord.After, "held", len(c.ord.held), "waited", c.orderWait())
	before := c.queued
	if c.releaseLocked(&before, true) {
		c.queuedChanged(c.queued - before)
		c.kick()
	}
}

// stopOrderLocked drops what the connection held, when it closes.
func (c *conn) stopOrderLocked() {
	if c.ord.timer != nil {
		c.ord.timer.Stop()
		c.ord.timer = nil
	}
	c.ord.held, c.ord.heldBytes = nil, 0
}

// publishPacketID returns the packet identifier of a QoS 1 or 2 PUBLISH
// frame; ok is false for any other frame.
func publishPacketID(f []byte) (pid uint16, ok bool) {
	if len(f) < 2 || f[0]>>4 != byte(packet.PUBLISH) || f[0]&0x06 == 0 {
		return 0, false
	}
	// Fixed header: the type byte and the remaining length (1 to 4
	// bytes, 7 bits each, the high bit set on all but the last).
	i := 1
	for i < len(f) && i < 5 && f[i]&0x80 != 0 {
		i++
	}
	i++ // past the last length byte
	if i+2 > len(f) {
		return 0, false
	}
	n := int(f[i])<<8 | int(f[i+1]) // topic name length
	i += 2 + n
	if i+2 > len(f) {
		return 0, false
	}
	return uint16(f[i])<<8 | uint16(f[i+1]), true
}
