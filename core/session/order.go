package session

// Order per session (section 4.6): the server sends the PUBLISH packets of
// one topic and QoS to a subscriber in the order it received them
// [MQTT-4.6.0-6]. The store keeps each session's outbound messages in
// order (Seq) and puts them in flight oldest first, but the frames of a
// session are produced by more than one call at a time: the publisher's
// call hands out what its Enqueue put in flight, the subscriber's own call
// what the Dispatch after its PUBACKs put in flight. Each reply is written
// after its call returns, so a call that put message 126 in flight could
// have its frames written after a call that put 127..133 in flight later
// (issue 16: "133 before 126", about one run in 10 at QoS 2).
//
// So every QoS 1 and 2 PUBLISH frame a call hands out carries an Order: its
// Seq, and After, the Seq of the message the store put in flight before it
// (Outbound.After). The proxy writes a frame only once the frame of After
// has been written or skipped on that connection (infra/proxy/order.go);
// a call that hands out a message without writing it (expired, too large
// for the client, or a QoS 2 message resent as PUBREL) sends a Skip in its
// place, so that nothing waits for it. The rule lives here and in the
// proxy; the stores only report After from the same atomic step that puts
// the message in flight.

// Order places one QoS 1 or 2 PUBLISH frame of a Reply or Delivery in its
// session's order [MQTT-4.6.0-6].
type Order struct {
	// PacketID names the frame among the PUBLISH frames it travels with.
	PacketID uint16 `json:"pid,omitempty"`
	// Seq is the message's Outbound.Seq.
	Seq uint64 `json:"seq"`
	// After is the Seq of the frame to write first, 0 for none
	// (Outbound.After).
	After uint64 `json:"after,omitempty"`
	// Skip is a message handed out whose frame is not written: it takes
	// its place in the order, without a frame.
	Skip bool `json:"skip,omitempty"`
}

// deliverOut delivers frame b of o, a message the store handed out for
// session s (nil b: the message is not sent), in its place in the
// session's order. QoS 0 frames carry no order.
func (c *call) deliverOut(s *Session, o *Outbound, b []byte) {
	if o.QoS == 0 {
		if b != nil {
			c.deliver(s, b)
		}
		return
	}
	c.placeOut(s.Conn == c.ev.Conn, s, Order{PacketID: o.PacketID, Seq: o.Seq, After: o.After, Skip: b == nil}, b)
}

// sendOwn delivers to this call's own connection as deliverOut does.
func (c *call) sendOwn(o *Outbound, b []byte) {
	if o.QoS == 0 {
		if b != nil {
			c.reply.Packets = append(c.reply.Packets, b)
		}
		return
	}
	c.placeOut(true, nil, Order{PacketID: o.PacketID, Seq: o.Seq, After: o.After, Skip: b == nil}, b)
}

// placeOut adds frame b (none when nil) with its order to the reply, for
// the call's own connection, or to the delivery to s's connection.
func (c *call) placeOut(own bool, s *Session, ord Order, b []byte) {
	if own {
		if b != nil {
			c.reply.Packets = append(c.reply.Packets, b)
		}
		c.reply.Order = append(c.reply.Order, ord)
		return
	}
	d := c.delivery(s)
	if b != nil {
		d.Packets = append(d.Packets, b)
	}
	d.Order = append(d.Order, ord)
}
