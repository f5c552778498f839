package session

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// Unreached handles deliveries that certainly never reached their proxy:
// the request was refused (a signature outside the clock skew, a body too
// large) or its connection never made, whatever retries were made
// (delivery.ErrNotDelivered). Unlike a gone report, it says nothing of the
// connection, which may be alive. It reads each session afresh and
// returns, in Reply.Deliveries, what to deliver again:
//
//   - When another connection now holds the session, or none does, it is
//     handled as Undelivered does.
//   - When the session still names the delivery's connection, its QoS 0
//     messages are handled as Undelivered does (queued when QueueQoS0 is
//     set and the session persists), and its QoS 1 and 2 messages, in
//     flight under packet identifiers the client never saw, are put back
//     in the queue (requeue): they leave the window, which a run of such
//     failures would otherwise fill until the client reconnected, and go
//     out with the session's next dispatch (its next message, its next
//     acknowledgement, or its next connection) under a new identifier.
//     Nothing was sent under the old one, so this is a first sending, not
//     a resend [MQTT-4.4.0-1]; the message may arrive after messages
//     routed later than it.
//
// Errors come from the Store; the reply holds what was done.
func (h *Handler) Unreached(ctx context.Context, ds []Delivery) (*Reply, error) {
	c := &call{h: h, ctx: ctx, ev: &Event{}, now: h.now(), reply: &Reply{}}
	for _, d := range ds {
		if d.Client == "" || len(d.Packets) == 0 {
			continue
		}
		if err := c.undelivered(&d, true); err != nil {
			return c.reply, fmt.Errorf("session: unreached %q: %w", d.Client, err)
		}
	}
	return c.reply, nil
}

// requeue puts the QoS 1 and 2 messages in flight for clientID under ids,
// never sent to its connection conn, back in its queue: copies are
// enqueued, all in one call (window 0: nothing is dispatched now, since
// the proxy just failed), then the in-flight ones' exchanges are ended,
// concurrently, in two atomic steps per message. A failure between them
// leaves both, so that the message is sent twice at worst and never lost;
// a message the queue has no room for stays in flight, to be sent when the
// client reconnects. The ends are fenced on conn: once another connection
// holds the session, they end nothing (it resends what is in flight, and
// a session its client started afresh may use the same identifiers).
// One call for the copies and concurrent ends keep a failed delivery of a
// window's worth of messages from holding the call (and the PUBLISH that
// made the delivery) for a store round trip per message.
func (c *call) requeue(clientID, conn string, ids []uint16) error {
	inflight, err := c.h.store.Inflight(c.ctx, clientID)
	if err != nil {
		return err
	}
	var back []*Outbound
	var copies []*Outbound
	for _, o := range inflight {
		if o.State != Sent || !slices.Contains(ids, o.PacketID) {
			continue
		}
		back = append(back, o)
		copies = append(copies, &Outbound{QoS: o.QoS, Retain: o.Retain, SubIDs: o.SubIDs, Message: o.Message})
	}
	if len(copies) == 0 {
		return nil
	}
	n, _, err := c.h.store.Enqueue(c.ctx, clientID, copies, c.h.cfg.queueLimit(), "", 0)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	back = back[:n] // the queue took the first n, in order
	errs := make([]error, len(back))
	var wg sync.WaitGroup
	for i, o := range back {
		wg.Go(func() {
			var err error
			if o.QoS == 1 {
				err = c.h.store.Acknowledge(c.ctx, clientID, conn, o.PacketID)
			} else if err = c.h.store.Release(c.ctx, clientID, conn, o.PacketID); err == nil {
				err = c.h.store.Complete(c.ctx, clientID, conn, o.PacketID)
			}
			if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrFenced) {
				errs[i] = err
			}
		})
	}
	wg.Wait()
	for i, o := range back {
		if errs[i] != nil {
			return errs[i]
		}
		c.h.log.Debug("message in flight for an unreached connection put back in the queue", "client", clientID, "packetId", o.PacketID, "qos", o.QoS, "topic", o.Message.Topic)
	}
	return nil
}
