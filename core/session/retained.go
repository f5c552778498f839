package session

import (
	"errors"
	"slices"

	"github.com/mqttless/mqttless/core/packet"
)

// Retained messages: their limits, and how a SUBSCRIBE's retained messages
// reach the client a page at a time (docs/architecture.md, "Sessions,
// queues and QoS").
//
// A filter that asks for retained messages becomes a RetainedScan in the
// connection state. continueRetained sends what the connection can take
// now and records where it stopped: in the scan's After (the topic of the
// last message handled, in the store's order) and in RetainedMore, set
// when it stopped for want of room in the proxy's send queue, so that the
// proxy sends a KindRetained event once that queue is empty. A scan that
// stopped because the session's window or queue is full goes on with the
// next packets event (the client's acknowledgements).

// RetainedScan is a subscription whose retained messages are still being
// sent.
type RetainedScan struct {
	Filter string `json:"f"`
	QoS    byte   `json:"q,omitempty"`  // the granted QoS [MQTT-3.8.4-8]
	SubID  uint32 `json:"id,omitempty"` // the subscription identifier, 0 for none
	// After is the topic of the last message handled; "" before the first.
	After string `json:"a,omitempty"`
}

const (
	// retainedCallBytes bounds the frames of retained messages one call
	// puts in its reply (the event's SendRoom may lower it), so that a
	// Lambda reply stays far under its 6 MB.
	retainedCallBytes = 2 << 20
	// retainedPageCount bounds the messages of one Store.RetainedPage read.
	retainedPageCount = 64
)

// retain stores m as its topic's retained message, recorded with
// identity, within lim. It reports false, having stored nothing, when that
// would take the store, or identity, past lim.
func (c *call) retain(m *Message, identity string, lim RetainedLimits) (bool, error) {
	rm := *m
	rm.Identity = identity
	err := c.h.store.SetRetained(c.ctx, &rm, lim)
	if errors.Is(err, ErrQuotaExceeded) {
		c.h.log.Debug("retained message refused: limit reached", "topic", m.Topic, "size", m.Size(),
			"identity", identity, "max", lim.Count, "maxBytes", lim.Bytes,
			"maxIdentity", lim.IdentityCount, "maxIdentityBytes", lim.IdentityBytes)
		return false, nil
	}
	return err == nil, err
}

// retainPublished stores the retained message of PUBLISH p from the client
// [MQTT-3.3.1-5] (an empty payload removes it [MQTT-3.3.1-6]
// [MQTT-3.3.1-7]) within Config.MaxRetained and MaxRetainedBytes, and
// MaxUserRetained and MaxUserRetainedBytes for the client's identity. It
// reports whether the message goes on to its subscribers: past a limit, a
// 5.0 client gets PUBACK or PUBREC 0x97 Quota exceeded (sections 3.4.2.1
// and 3.5.2.1) and the message goes nowhere (a QoS 0 one silently), as a
// denied one; a 3.1.1 client, which cannot be told, has it delivered to
// the current subscribers without retaining it.
func (c *call) retainPublished(p *packet.Publish, m *Message) (bool, error) {
	ok, err := c.retain(m, c.st.Identity, c.h.cfg.retainedLimits(c.st.Identity))
	if err != nil || ok || c.st.Version != packet.V5 {
		return err == nil, err
	}
	c.ackPublish(p, packet.QuotaExceeded)
	return false, nil
}

// addRetainedScan starts sending the retained messages of subscription s,
// restarting a scan of the same filter.
func (c *call) addRetainedScan(s *Subscription) {
	scans := slices.DeleteFunc(slices.Clone(c.st.Retained), func(r RetainedScan) bool { return r.Filter == s.Filter })
	sc := RetainedScan{Filter: s.Filter, QoS: s.QoS}
	if c.st.Version == packet.V5 {
		sc.SubID = s.SubID
	}
	c.st.Retained = append(scans, sc)
	c.stateChanged = true
}

// dropRetainedScans ends the scans of filters, which the client
// unsubscribed from.
func (c *call) dropRetainedScans(filters []string) {
	if len(c.st.Retained) == 0 {
		return
	}
	n := len(c.st.Retained)
	c.st.Retained = slices.DeleteFunc(slices.Clone(c.st.Retained), func(r RetainedScan) bool { return slices.Contains(filters, r.Filter) })
	if len(c.st.Retained) != n {
		c.stateChanged = true
		if len(c.st.Retained) == 0 {
			c.st.Retained, c.st.RetainedMore = nil, false
		}
	}
}

// retainedRoom returns the bytes of retained messages the reply may take
// now: the send queue's room the event reports (or retainedCallBytes),
// less the frames already in the reply.
func (c *call) retainedRoom() int {
	room := retainedCallBytes
	if c.ev.SendRoom > 0 {
		room = min(room, c.ev.SendRoom)
	}
	for _, b := range c.reply.Packets {
		room -= len(b)
	}
	return room
}

// continueRetained sends the retained messages of the connection's scans
// that it can take now, oldest scan first. QoS 0 ones go as frames in the
// reply while they fit in retainedRoom, so that the send queue drops none;
// on a KindRetained event (resume), when the proxy's queue is empty, the
// first one goes however large. QoS 1 and 2 ones are enqueued for the
// session, at most a window's worth at a time, and sent as the window
// allows. Each message is sent with RETAIN 1 (section 3.3.1.3; 3.1.1:
// [MQTT-3.3.1-8]) at the lower of its QoS and the granted one
// [MQTT-3.8.4-8]; an expired one is skipped [MQTT-3.3.2-5].
func (c *call) continueRetained(resume bool) error {
	if c.st == nil || len(c.st.Retained) == 0 || c.reply.Close {
		return nil
	}
	c.st.Retained = slices.Clone(c.st.Retained)
	c.st.RetainedMore = false
	c.stateChanged = true
	r := retainedRun{c: c, room: c.retainedRoom(), first: resume, window: int(c.st.ReceiveMax)}
	for len(c.st.Retained) > 0 {
		sc := &c.st.Retained[0]
		page, err := c.h.store.RetainedPage(c.ctx, sc.Filter, sc.After, retainedPageCount, max(r.room, 1))
		if err != nil {
			return err
		}
		if len(page) == 0 {
			c.st.Retained = c.st.Retained[1:]
			continue
		}
		if done, err := r.page(sc, page); err != nil || !done {
			return err
		}
	}
	c.st.Retained = nil
	return nil
}

// retainedRun is the work of one continueRetained.
type retainedRun struct {
	c      *call
	room   int  // bytes the reply may still take
	first  bool // the next QoS 0 message goes however large
	window int
	// batch holds the QoS 1 and 2 messages to enqueue, in order, with the
	// messages skipped among them (o nil), whose topics the scan may pass
	// only once the messages before them are enqueued.
	batch []retainedItem
	n     int // messages (o set) in batch
}

type retainedItem struct {
	o     *Outbound
	topic string
}

// skip passes message m without sending it.
func (r *retainedRun) skip(sc *RetainedScan, m *Message) {
	if len(r.batch) == 0 {
		sc.After = m.Topic
		return
	}
	r.batch = append(r.batch, retainedItem{topic: m.Topic})
}

// page sends the messages of one page of scan sc. It reports false when
// the scan must wait: for room in the send queue (RetainedMore is then
// set) or in the session's window or queue.
func (r *retainedRun) page(sc *RetainedScan, page []*Message) (bool, error) {
	c := r.c
	for _, m := range page {
		if r.room <= 0 && !r.first {
			c.st.RetainedMore = true
			_, err := r.enqueue(sc)
			return false, err
		}
		if m.Expired(c.now) {
			r.skip(sc, m)
			continue
		}
		// A retained message is a delivery like any other: a deny rule
		// inside the granted filter keeps it out.
		if ok, err := c.mayReceive(m.Topic); err != nil || !ok {
			if err != nil {
				return false, err
			}
			r.skip(sc, m)
			continue
		}
		o := &Outbound{QoS: min(m.QoS, sc.QoS), Retain: true, Message: *m, SubIDs: subIDList(sc.SubID)}
		if o.QoS > 0 {
			if !c.fits(o, c.st.Version, c.st.MaxPacketSize) {
				r.skip(sc, m) // dropped as if sent [MQTT-3.1.2-25]
				continue
			}
			r.batch = append(r.batch, retainedItem{o: o, topic: m.Topic})
			r.n++
			r.room -= m.Size()
			if r.n >= r.window {
				if ok, err := r.enqueue(sc); err != nil || !ok {
					return false, err
				}
			}
			continue
		}
		// A QoS 0 message follows the QoS 1 and 2 ones before it.
		if ok, err := r.enqueue(sc); err != nil || !ok {
			return false, err
		}
		b := c.encodeOut(o, false, c.st.Version, c.st.MaxPacketSize) // nil: too large for the client [MQTT-3.1.2-25]
		if b != nil {
			if len(b) > r.room && !r.first {
				c.st.RetainedMore = true
				return false, nil
			}
			c.reply.Packets = append(c.reply.Packets, b)
			r.room -= len(b)
			r.first = false
		}
		sc.After = m.Topic
	}
	return r.enqueue(sc)
}

// enqueue enqueues the batch of QoS 1 and 2 messages and sends what goes
// in flight, moving the scan past what the queue took. It reports false
// when the scan must wait for the client's acknowledgements: the queue did
// not take every message, or not every message went in flight.
func (r *retainedRun) enqueue(sc *RetainedScan) (bool, error) {
	if len(r.batch) == 0 {
		return true, nil
	}
	c := r.c
	items := r.batch
	msgs := make([]*Outbound, 0, r.n)
	for _, it := range items {
		if it.o != nil {
			msgs = append(msgs, it.o)
		}
	}
	r.batch, r.n = nil, 0
	accepted := 0
	var sent []*Outbound
	if len(msgs) > 0 {
		var err error
		if accepted, sent, err = c.h.store.Enqueue(c.ctx, c.st.ClientID, msgs, c.h.cfg.queueLimit(), c.ev.Conn, r.window); err != nil {
			return false, c.storeErr(err) // fenced: taken over, closed
		}
	}
	// Pass every item before the first message the queue did not take.
	k := 0
	for _, it := range items {
		if it.o != nil {
			if k == accepted {
				break
			}
			k++
		}
		sc.After = it.topic
	}
	for _, o := range sent {
		expired, err := c.dropExpired(c.st.ClientID, c.ev.Conn, o)
		if err != nil {
			return false, c.storeErr(err) // fenced: taken over, closed
		}
		if expired {
			continue // expired in the queue [MQTT-3.3.2-5]
		}
		if b := c.encodeOut(o, false, c.st.Version, c.st.MaxPacketSize); b != nil {
			c.reply.Packets = append(c.reply.Packets, b)
		}
	}
	if accepted < len(msgs) || len(sent) < accepted {
		c.st.RetainedMore = false
		return false, nil
	}
	return true, nil
}
