package session

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/topic"
)

// Undelivered handles deliveries whose connection was gone when a proxy
// tried to write them, as a proxy's delivery endpoint reports. It reads each
// session afresh and returns, in Reply.Deliveries, what to deliver again:
//
//   - When another connection now holds the session (the client
//     reconnected, perhaps through another proxy), the QoS 0 messages go to
//     it if it still subscribes to their topics (a clean start ends the
//     old subscriptions), and so do the QoS 1 and 2 messages still in flight under the
//     packet identifiers the deliveries used, with DUP set: the new
//     connection may have resumed the session before they were stored
//     [MQTT-4.4.0-1].
//   - When the session is offline (or still names the gone connection,
//     whose lost event is yet to come), QoS 1 and 2 messages need nothing: they
//     are in flight in the Store and go out when the client reconnects. QoS
//     0 messages are queued as if the session had been offline when they
//     were routed: only when QueueQoS0 is set and the session persists.
//
// Deliveries that close a connection, and sessions that ended, are
// dropped. Errors come from the Store; the reply holds what was done.
func (h *Handler) Undelivered(ctx context.Context, ds []Delivery) (*Reply, error) {
	c := &call{h: h, ctx: ctx, ev: &Event{}, now: h.now(), reply: &Reply{}}
	for _, d := range ds {
		if d.Client == "" || len(d.Packets) == 0 {
			continue
		}
		if err := c.undelivered(&d, false); err != nil {
			return c.reply, fmt.Errorf("session: undelivered to %q: %w", d.Client, err)
		}
	}
	return c.reply, nil
}

func (c *call) undelivered(d *Delivery, unreached bool) error {
	s, err := c.h.store.Session(c.ctx, d.Client)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	var qos0 []*Outbound
	var ids []uint16
	for _, frame := range d.Packets {
		if len(frame) == 0 || packet.Type(frame[0]>>4) != packet.PUBLISH {
			continue
		}
		var p packet.Publish
		if err := p.DecodeWith(frame, s.Version, c.h.cfg.Packet); err != nil {
			continue
		}
		if p.QoS > 0 {
			ids = append(ids, p.PacketID)
			continue
		}
		m := newMessage(p.Topic, clone(p.Payload), 0, p.Retain, "", &p.Properties, c.now)
		qos0 = append(qos0, &Outbound{Retain: p.Retain, SubIDs: p.Properties.SubscriptionIDs, Message: m})
	}
	if unreached && s.Online() && s.Conn == d.Conn && len(ids) > 0 {
		// The connection may be alive: what it was not sent must not
		// wait in flight for it forever (unreached.go).
		if err := c.requeue(d.Client, d.Conn, ids); err != nil {
			return err
		}
	}
	if !s.Online() || s.Conn == d.Conn {
		// Offline, or about to be: the lost event of d.Conn may not have
		// been handled yet.
		if len(qos0) == 0 || !c.h.cfg.QueueQoS0 || s.ExpiryInterval == 0 {
			return nil
		}
		_, _, err := c.h.store.Enqueue(c.ctx, d.Client, qos0, c.h.cfg.queueLimit(), "", 0)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	}
	if len(ids) > 0 {
		inflight, err := c.h.store.Inflight(c.ctx, d.Client)
		if err != nil {
			return err
		}
		for _, o := range inflight {
			if o.State == Sent && slices.Contains(ids, o.PacketID) {
				if b := c.encodeOut(o, true, s.Version, s.MaxPacketSize); b != nil {
					c.deliver(s, b)
				}
			}
		}
	}
	if len(qos0) == 0 {
		return nil
	}
	// The new connection may have started a new session [MQTT-3.1.2-4]:
	// only topics it still subscribes to go to it.
	subs, err := c.h.store.Subscriptions(c.ctx, d.Client)
	if err != nil {
		return err
	}
	for _, o := range qos0 {
		if !subscribed(subs, o.Message.Topic) {
			continue
		}
		if b := c.encodeOut(o, false, s.Version, s.MaxPacketSize); b != nil {
			c.deliver(s, b)
		}
	}
	return nil
}

// subscribed reports whether any of subs matches topic name.
func subscribed(subs []Subscription, name string) bool {
	for _, sub := range subs {
		f := sub.Filter
		if _, inner, ok, _ := topic.ParseShared(f); ok {
			f = inner
		}
		if topic.Match(f, name) {
			return true
		}
	}
	return false
}
