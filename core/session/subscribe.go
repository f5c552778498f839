package session

import (
	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/topic"
)

// subscribe handles SUBSCRIBE (section 3.8.4): it stores the valid
// subscriptions, answers with a SUBACK holding one code per filter, then
// sends the matching retained messages as Retain Handling asks.
func (c *call) subscribe(frame []byte) error {
	var p packet.Subscribe
	if err := p.DecodeWith(frame, c.st.Version, c.h.cfg.Packet); err != nil {
		c.malformed(err)
		return nil
	}
	var subID uint32
	if len(p.Properties.SubscriptionIDs) > 0 {
		subID = p.Properties.SubscriptionIDs[0]
	}
	codes := make([]packet.ReasonCode, len(p.Subscriptions))
	subs := make([]Subscription, 0, len(p.Subscriptions))
	idx := make([]int, 0, len(p.Subscriptions)) // subs[i] answers codes[idx[i]]
	limits := c.h.cfg.topicLimits()
	for i, s := range p.Subscriptions {
		// An invalid filter, or one past the server's length and level
		// limits, fails alone (section 3.9.3).
		if err := limits.ValidateFilter(s.Filter); err != nil {
			codes[i] = packet.TopicFilterInvalid // 0x80 at 3.1.1 (section 3.9.3)
			continue
		}
		ok, err := c.maySubscribe(s.Filter)
		if err != nil {
			return err
		}
		if !ok {
			// 0x87, 0x80 at 3.1.1 (section 3.9.3); not stored.
			codes[i] = packet.NotAuthorized
			c.refused("subscribe denied", DeniedSubscribe, "no allow rule covers the filter", c.st.ClientID, c.st.Username, s.Filter)
			continue
		}
		codes[i] = packet.ReasonCode(s.QoS) // granted QoS: all three are supported (section 3.9.3)
		subs = append(subs, Subscription{
			ClientID: c.st.ClientID, Filter: s.Filter, QoS: s.QoS, NoLocal: s.NoLocal,
			RetainAsPublished: s.RetainAsPublished, RetainHandling: s.RetainHandling, SubID: subID,
		})
		idx = append(idx, i)
	}
	var existed []bool
	if len(subs) > 0 {
		var err error
		if subs, idx, err = c.limitSubscriptions(subs, idx, codes); err != nil {
			return err
		}
	}
	if len(subs) > 0 {
		var err error
		existed, err = c.h.store.Subscribe(c.ctx, c.st.ClientID, c.ev.Conn, subs)
		if err != nil {
			return c.storeErr(err)
		}
	}
	if c.h.v2() && len(subs) > 0 {
		// The window follows the new subscriptions from their heads, before
		// any message published after the SUBACK (v2.go).
		if _, err := c.follow(subs, existed, false); err != nil || c.reply.Close {
			return err
		}
	}
	ack := &packet.Suback{PacketID: p.PacketID, ReasonCodes: codes}
	c.send(ack) // [MQTT-3.8.4-1] [MQTT-3.8.4-2]

	// Retained messages, sent after the SUBACK, a page at a time as the
	// connection takes them (retained.go): Retain Handling 0 sends them on
	// every subscribe, 1 only for a new subscription, 2 never
	// [MQTT-3.3.1-9] [MQTT-3.3.1-10] [MQTT-3.3.1-11]. Shared subscriptions
	// get none (section 4.8.2).
	for i := range subs {
		s := &subs[i]
		if s.RetainHandling == 2 || (s.RetainHandling == 1 && existed[i]) {
			continue
		}
		if _, _, shared, _ := topic.ParseShared(s.Filter); shared {
			continue
		}
		c.addRetainedScan(s)
	}
	return c.continueRetained(false)
}

// limitSubscriptions keeps the session within Config.MaxSubscriptions:
// of subs, those that would add a subscription past the limit are dropped
// and their codes (codes[idx[i]]) set to 0x97 Quota exceeded (0x80 at
// 3.1.1) (section 3.9.3). A filter the session already has replaces its
// subscription and always passes. It costs one Store.Subscriptions read.
func (c *call) limitSubscriptions(subs []Subscription, idx []int, codes []packet.ReasonCode) ([]Subscription, []int, error) {
	existing, err := c.h.store.Subscriptions(c.ctx, c.st.ClientID)
	if err != nil {
		return nil, nil, err
	}
	have := make(map[string]bool, len(existing)+len(subs))
	for _, s := range existing {
		have[s.Filter] = true
	}
	n := len(have)
	keptSubs, keptIdx := subs[:0], idx[:0]
	for i, s := range subs {
		if !have[s.Filter] {
			if n >= c.h.cfg.MaxSubscriptions {
				codes[idx[i]] = packet.QuotaExceeded
				c.h.log.Debug("subscription limit reached", "client", c.st.ClientID, "filter", s.Filter)
				continue
			}
			have[s.Filter] = true
			n++
		}
		keptSubs, keptIdx = append(keptSubs, s), append(keptIdx, idx[i])
	}
	return keptSubs, keptIdx, nil
}

// unsubscribe handles UNSUBSCRIBE (section 3.10.4).
func (c *call) unsubscribe(frame []byte) error {
	var p packet.Unsubscribe
	if err := p.DecodeWith(frame, c.st.Version, c.h.cfg.Packet); err != nil {
		c.malformed(err)
		return nil
	}
	existed, err := c.h.store.Unsubscribe(c.ctx, c.st.ClientID, c.ev.Conn, p.Filters)
	if err != nil {
		return c.storeErr(err)
	}
	c.dropRetainedScans(p.Filters)
	if c.h.v2() {
		c.unfollow(p.Filters, existed)
	}
	ack := &packet.Unsuback{PacketID: p.PacketID}
	if c.st.Version == packet.V5 {
		ack.ReasonCodes = make([]packet.ReasonCode, len(p.Filters))
		for i, ok := range existed {
			if !ok {
				ack.ReasonCodes[i] = packet.NoSubscriptionExisted
			}
		}
	}
	c.send(ack) // [MQTT-3.10.4-4] [MQTT-3.10.4-5]
	return nil
}
