package session

import (
	"context"
	"errors"
	"fmt"

	"github.com/mqttless/mqttless/core/packet"
)

// Undelivered handles deliveries whose connection was gone when a proxy
// tried to write them, as a proxy's delivery endpoint reports. QoS 1 and 2
// messages need nothing: they were in flight in the Store before they were
// sent, and go out again when the client reconnects [MQTT-4.4.0-1]. QoS 0
// messages are queued for the session as if it had been offline when they
// were routed: only when QueueQoS0 is set, the session persists (a Session
// Expiry Interval above 0) and no newer connection owns it. Errors come from
// the Store.
func (h *Handler) Undelivered(ctx context.Context, ds []Delivery) error {
	if !h.cfg.QueueQoS0 {
		return nil
	}
	var ids []string
	for _, d := range ds {
		if d.Client != "" && len(d.Packets) > 0 {
			ids = append(ids, d.Client)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	sessions, err := h.store.Sessions(ctx, ids)
	if err != nil {
		return fmt.Errorf("session: undelivered: %w", err)
	}
	for _, d := range ds {
		s := sessions[d.Client]
		if s == nil || s.ExpiryInterval == 0 || (s.Online() && s.Conn != d.Conn) {
			continue
		}
		var msgs []*Outbound
		for _, frame := range d.Packets {
			if len(frame) == 0 || packet.Type(frame[0]>>4) != packet.PUBLISH {
				continue
			}
			var p packet.Publish
			if err := p.Decode(frame, s.Version); err != nil || p.QoS != 0 {
				continue
			}
			m := newMessage(p.Topic, clone(p.Payload), 0, p.Retain, "", &p.Properties, h.now())
			msgs = append(msgs, &Outbound{QoS: 0, Retain: p.Retain, SubIDs: p.Properties.SubscriptionIDs, Message: m})
		}
		if len(msgs) == 0 {
			continue
		}
		if _, _, err := h.store.Enqueue(ctx, d.Client, msgs, h.cfg.MaxQueued, 0); err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("session: undelivered to %q: %w", d.Client, err)
		}
	}
	return nil
}
