package session

import (
	"errors"
	"maps"
	"math/rand/v2"
	"strconv"

	"github.com/mqttless/mqttless/core/packet"
)

// publish handles a PUBLISH from the client (sections 3.3.4 and 4.3).
func (c *call) publish(frame []byte) error {
	var p packet.Publish
	if err := p.DecodeWith(frame, c.st.Version, c.h.cfg.Packet); err != nil {
		c.malformed(err)
		return nil
	}
	v5 := c.st.Version == packet.V5
	if p.Topic != "" {
		// The server's own limits on topic names (Config.MaxTopicLength,
		// MaxTopicLevels), checked before a Topic Alias maps the name: a
		// name past them is answered as an invalid one, DISCONNECT 0x90 at
		// 5.0 (section 3.14.2.1) and a close at 3.1.1 [MQTT-4.13.1-1].
		if err := c.h.cfg.topicLimits().ValidateName(p.Topic); err != nil {
			c.disconnect(packet.TopicNameInvalid, err.Error())
			return nil
		}
	}
	if v5 {
		if err := p.CheckFromClient(); err != nil {
			if errors.Is(err, packet.ErrPayloadFormat) && p.QoS > 0 {
				c.ackPublish(&p, packet.PayloadFormatInvalid) // section 3.3.2.3.2
				return nil
			}
			c.malformed(err) // [MQTT-3.3.4-6]; 0x99 for a QoS 0 message
			return nil
		}
		if !c.resolveAlias(&p) {
			return nil
		}
	}
	if p.QoS == 2 && c.st.Pending >= c.h.cfg.ReceiveMax {
		c.disconnect(packet.ReceiveMaximumExceeded, "") // [MQTT-3.3.4-7]
		return nil
	}
	if ok, err := c.mayPublish(p.Topic); err != nil || !ok {
		if err == nil {
			c.denyPublish(&p)
		}
		return err
	}
	m := newMessage(p.Topic, clone(p.Payload), p.QoS, p.Retain, c.st.ClientID, &p.Properties, c.now)
	if p.Retain {
		// [MQTT-3.3.1-5] store, [MQTT-3.3.1-6] [MQTT-3.3.1-7] an empty
		// payload removes the retained message of the topic; within the
		// retained limits (retained.go).
		if ok, err := c.retainPublished(&p, &m); err != nil || !ok {
			return err
		}
	}
	switch p.QoS {
	case 0:
		_, err := c.fanOut(&m)
		return err
	case 1:
		f, err := c.fanOut(&m)
		if err != nil {
			return err
		}
		c.ackLater(&p, f)
		return nil
	}
	// QoS 2: deliver once, however often the client resends before PUBREL
	// (section 4.3.3). The receive record is written before routing, with
	// Routed false, so a retry after a failure routes again; Routed is set
	// when the call flushes the deliveries, before the PUBREC goes out. A
	// resend within the same call finds it marked there. A routing again
	// appends only where the first one did not (Message.Receipt).
	m.Receipt = newReceipt()
	existing, err := c.h.store.Receive(c.ctx, c.st.ClientID, c.ev.Conn, &Inbound{PacketID: p.PacketID, Message: m})
	if err != nil {
		return c.storeErr(err) // fenced: taken over, closed
	}
	f := &fanout{n: 1}
	switch {
	case existing == nil:
		c.st.Pending++
		c.stateChanged = true
		if f, err = c.fanOut(&m); err != nil {
			return err
		}
		c.markFannedOut(p.PacketID)
	case !existing.Routed && !c.marked[p.PacketID]:
		if r := existing.Message.Receipt; r != "" {
			if c.resent == nil {
				c.resent = map[string]bool{}
			}
			c.resent[r] = true
		}
		if f, err = c.fanOut(&existing.Message); err != nil {
			return err
		}
		c.markFannedOut(p.PacketID)
	}
	c.ackLater(&p, f)
	return nil
}

// matchedCode is the PUBACK or PUBREC reason code for a message that went
// to n sessions.
func matchedCode(n int) packet.ReasonCode {
	if n == 0 {
		return packet.NoMatchingSubscribers
	}
	return packet.Success
}

// pubackCode is the PUBACK reason code of a QoS 1 message fanned out as f:
// 0x97 Quota exceeded when it matched subscribers but every one of their
// queues was full (section 3.4.2.1), else as matchedCode. A QoS 2
// message's PUBREC keeps matchedCode (0x10 when it reached none): a PUBREC
// of 0x80 or above ends the exchange (section 4.3.3), while the receive
// state recorded for it would wait for a PUBREL that never comes.
func pubackCode(f *fanout) packet.ReasonCode {
	if f.n == 0 && f.full > 0 {
		return packet.QuotaExceeded
	}
	return matchedCode(f.n)
}

// ackPublish answers a QoS 1 PUBLISH with PUBACK or a QoS 2 one with
// PUBREC (sections 4.3.2 and 4.3.3).
func (c *call) ackPublish(p *packet.Publish, rc packet.ReasonCode) {
	switch p.QoS {
	case 1:
		c.send(&packet.Puback{PacketID: p.PacketID, ReasonCode: rc})
	case 2:
		c.send(&packet.Pubrec{PacketID: p.PacketID, ReasonCode: rc})
	}
}

// resolveAlias applies a Topic Alias (section 3.3.2.3.4): an alias with a
// topic sets the mapping, an alias alone uses it. It closes the connection
// and returns false for an alias out of range or unknown.
func (c *call) resolveAlias(p *packet.Publish) bool {
	if !p.Properties.Has(packet.PropTopicAlias) {
		return true
	}
	alias := p.Properties.TopicAlias
	if alias > c.h.cfg.TopicAliasMax {
		c.disconnect(packet.TopicAliasInvalid, "topic alias above the maximum") // [MQTT-3.3.2-9] [MQTT-3.3.2-12]
		return false
	}
	if p.Topic != "" {
		if t, ok := c.st.Aliases[alias]; !ok || t != p.Topic {
			// A new map: c.st is a shallow copy of the event's state, which
			// must stay as it came.
			aliases := maps.Clone(c.st.Aliases)
			if aliases == nil {
				aliases = map[uint16]string{}
			}
			aliases[alias] = p.Topic
			// The server's bound on what the aliases hold, which travels
			// in every event: past it the alias is refused as invalid,
			// DISCONNECT 0x94 (section 3.3.2.3.4, as [MQTT-3.3.2-9]).
			if aliasBytes(aliases) > c.h.cfg.MaxAliasBytes {
				c.disconnect(packet.TopicAliasInvalid, "topic aliases hold more than the server allows")
				return false
			}
			c.st.Aliases = aliases
			c.stateChanged = true
		}
		return true
	}
	t, ok := c.st.Aliases[alias]
	if !ok {
		c.disconnect(packet.ProtocolError, "unknown topic alias") // section 3.3.2.3.4
		return false
	}
	p.Topic = t
	return true
}

// aliasBytes returns the bytes of the topic names aliases hold.
func aliasBytes(aliases map[uint16]string) int {
	n := 0
	for _, t := range aliases {
		n += len(t)
	}
	return n
}

// newReceipt returns a random Message.Receipt.
func newReceipt() string {
	return strconv.FormatUint(rand.Uint64(), 36)
}
