package proxy

import "github.com/mqttless/mqttless/core/packet"

// aliasLocked rewrites a PUBLISH frame for a 5.0 client that accepts topic
// aliases (section 3.3.2.3.4). The proxy keeps at most
// min(the client's Topic Alias Maximum, MaxOutboundAliases) aliases, whose
// topics hold at most MaxOutboundAliasBytes, in least recently used order.
// A PUBLISH of a topic with an alias carries the alias alone; one of a new
// topic carries the topic and a free alias, or, once the aliases are all
// taken or their bytes would pass the limit, the alias of the least
// recently used topic, which the client then maps to the new topic: "the
// sender can modify the Topic Alias mapping by sending another PUBLISH in
// the same Network Connection with the same Topic Alias value and a
// different non-zero length Topic Name" (section 3.3.2.3.4). A topic
// longer than MaxOutboundAliasBytes goes out unchanged. No alias exceeds
// the client's Topic Alias Maximum, and none is sent when it is 0
// [MQTT-3.1.2-26] [MQTT-3.1.2-27].
// mu must be held, so that aliases are assigned in the order frames are
// queued, which is the order they are written.
func (c *conn) aliasLocked(f []byte) []byte {
	if c.aliasMax == 0 || len(f) == 0 || packet.Type(f[0]>>4) != packet.PUBLISH {
		return f
	}
	var p packet.Publish
	if err := p.DecodeWith(f, packet.V5, c.srv.cfg.Packet); err != nil || p.Properties.Has(packet.PropTopicAlias) {
		return f
	}
	cfg := &c.srv.cfg
	l := &c.aliases
	topic := p.Topic
	a, known := l.byTopic[topic]
	switch {
	case known:
		p.Topic = ""
	case len(topic) > cfg.MaxOutboundAliasBytes:
		return f
	default:
		a = l.next(min(int(c.aliasMax), cfg.MaxOutboundAliases))
	}
	p.Properties.TopicAlias = a
	p.Properties.Set(packet.PropTopicAlias)
	b, err := p.Append(make([]byte, 0, len(f)+3), packet.V5)
	if err != nil || (c.maxPacket != 0 && uint32(len(b)) > c.maxPacket) {
		// The alias property must not push the packet past the client's
		// Maximum Packet Size [MQTT-3.1.2-24]; send it as it was.
		return f
	}
	if known {
		l.touch(a)
	} else {
		l.assign(a, topic, cfg.MaxOutboundAliasBytes)
	}
	return b
}

// aliasLRU holds the topic aliases of one connection, most recently used
// first. Alias a's entry is ents[a-1]; an entry with an empty topic is free
// (a PUBLISH always has a topic: an empty one stands for an alias). The
// list runs through prev and next, by alias number, 0 ending it. The zero
// value is empty; its conn's mu guards it.
type aliasLRU struct {
	byTopic    map[string]uint16
	ents       []aliasEnt
	head, tail uint16   // most and least recently used, 0 when empty
	free       []uint16 // aliases given up to make room for bytes
	bytes      int      // the bytes of the topics held
}

type aliasEnt struct {
	topic      string
	prev, next uint16
}

// next returns the alias for a new topic, without assigning it: a free
// one, else a new one while fewer than limit exist, else the least
// recently used.
func (l *aliasLRU) next(limit int) uint16 {
	switch {
	case len(l.free) > 0:
		return l.free[len(l.free)-1]
	case len(l.ents) < limit:
		return uint16(len(l.ents) + 1)
	}
	return l.tail
}

// assign maps alias a (from next) to topic, first giving up the least
// recently used aliases until the topics fit in maxBytes.
func (l *aliasLRU) assign(a uint16, topic string, maxBytes int) {
	if l.byTopic == nil {
		l.byTopic = map[string]uint16{}
	}
	switch {
	case int(a) == len(l.ents)+1:
		l.ents = append(l.ents, aliasEnt{})
	case len(l.free) > 0 && l.free[len(l.free)-1] == a:
		l.free = l.free[:len(l.free)-1]
	default: // the least recently used: remapped
		l.drop(a)
	}
	for l.bytes+len(topic) > maxBytes && l.tail != 0 {
		old := l.tail
		l.drop(old)
		l.free = append(l.free, old)
	}
	l.ents[a-1].topic = topic
	l.byTopic[topic] = a
	l.bytes += len(topic)
	l.pushFront(a)
}

// drop unmaps alias a and takes it off the list.
func (l *aliasLRU) drop(a uint16) {
	e := &l.ents[a-1]
	delete(l.byTopic, e.topic)
	l.bytes -= len(e.topic)
	e.topic = ""
	l.unlink(a)
}

// touch makes alias a the most recently used.
func (l *aliasLRU) touch(a uint16) {
	if l.head != a {
		l.unlink(a)
		l.pushFront(a)
	}
}

func (l *aliasLRU) unlink(a uint16) {
	e := &l.ents[a-1]
	if e.prev != 0 {
		l.ents[e.prev-1].next = e.next
	} else {
		l.head = e.next
	}
	if e.next != 0 {
		l.ents[e.next-1].prev = e.prev
	} else {
		l.tail = e.prev
	}
	e.prev, e.next = 0, 0
}

func (l *aliasLRU) pushFront(a uint16) {
	e := &l.ents[a-1]
	e.prev, e.next = 0, l.head
	if l.head != 0 {
		l.ents[l.head-1].prev = a
	}
	l.head = a
	if l.tail == 0 {
		l.tail = a
	}
}
