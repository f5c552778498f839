package session

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// PublishSys publishes the broker's statistics: each value as a retained
// QoS 0 message on its topic, from the broker itself (no client), routed
// to the matching subscriptions as any publication is. A topic that does
// not start with "$SYS/" or is not a valid topic name is skipped. It
// returns the deliveries in Reply.Deliveries; a KindSys event calls it.
// Each value costs a Store.SetRetained write and the reads of routing it.
//
// A value on .../clients/total (the proxy's count of its connected
// clients) becomes, with a store that counts its sessions
// (SessionCounter), what Mosquitto reports there: the clients connected
// and registered, that is the sessions the store holds, online or not.
func (h *Handler) PublishSys(ctx context.Context, values []SysValue) (*Reply, error) {
	c := &call{h: h, ctx: ctx, ev: &Event{Kind: KindSys}, now: h.now(), reply: &Reply{}}
	limits := h.cfg.topicLimits()
	for _, v := range values {
		if sc, ok := h.store.(SessionCounter); ok && strings.HasSuffix(v.Topic, "/clients/total") {
			n, err := sc.SessionCount(ctx)
			if err != nil {
				return c.reply, fmt.Errorf("session: count sessions for %q: %w", v.Topic, err)
			}
			v.Value = strconv.Itoa(n)
		}
		if !strings.HasPrefix(v.Topic, "$SYS/") {
			h.log.Debug("$SYS value skipped: topic outside $SYS/", "topic", v.Topic)
			continue
		}
		if err := limits.ValidateName(v.Topic); err != nil {
			h.log.Debug("$SYS value skipped", "topic", v.Topic, "err", err)
			continue
		}
		m := Message{Topic: v.Topic, Payload: []byte(v.Value), Retain: true}
		if err := c.publishMessage(&m); err != nil {
			return c.reply, fmt.Errorf("session: publish %q: %w", v.Topic, err)
		}
	}
	if err := c.flush(); err != nil {
		return c.reply, fmt.Errorf("session: publish $SYS values: %w", err)
	}
	return c.reply, nil
}
