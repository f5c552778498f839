package proxy

import "github.com/mqttless/mqttless/core/packet"

// aliasLocked rewrites a PUBLISH frame for a 5.0 client that accepts topic
// aliases (section 3.3.2.3.4). The first TopicAliasMax distinct topics sent
// on the connection get aliases 1, 2, ... for its lifetime: the first
// PUBLISH of such a topic carries the topic and its alias, later ones the
// alias alone. Other topics go out unchanged; aliases are never remapped.
// No alias exceeds the client's Topic Alias Maximum, and none is sent when
// it is 0 [MQTT-3.1.2-26] [MQTT-3.1.2-27].
// mu must be held, so that aliases are assigned in the order frames are
// queued, which is the order they are written.
func (c *conn) aliasLocked(f []byte) []byte {
	if c.aliasMax == 0 || len(f) == 0 || packet.Type(f[0]>>4) != packet.PUBLISH {
		return f
	}
	var p packet.Publish
	if err := p.Decode(f, packet.V5); err != nil || p.Properties.Has(packet.PropTopicAlias) {
		return f
	}
	a, known := c.aliases[p.Topic]
	switch {
	case known:
		p.Topic = ""
	case len(c.aliases) < int(c.aliasMax):
		if c.aliases == nil {
			c.aliases = map[string]uint16{}
		}
		a = uint16(len(c.aliases) + 1)
		c.aliases[p.Topic] = a
	default:
		return f
	}
	p.Properties.TopicAlias = a
	p.Properties.Set(packet.PropTopicAlias)
	b, err := p.Append(make([]byte, 0, len(f)+3), packet.V5)
	if err != nil || (c.maxPacket != 0 && uint32(len(b)) > c.maxPacket) {
		// The alias property must not push the packet past the client's
		// Maximum Packet Size [MQTT-3.1.2-24]; send it as it was.
		if !known {
			delete(c.aliases, p.Topic)
		}
		return f
	}
	return b
}
