package session

import (
	"errors"
	"fmt"
	"time"

	"github.com/mqttless/mqttless/core/packet"
)

// newMessage builds a Message from a received PUBLISH or will. The payload
// and byte properties still alias the frame: callers that keep the message
// past the call must clone them (route does, through the Store's copy).
func newMessage(topic string, payload []byte, qos byte, retain bool, publisher string, p *packet.Properties, now time.Time) Message {
	m := Message{Topic: topic, Payload: payload, QoS: qos, Retain: retain, Publisher: publisher}
	if p.Has(packet.PropMessageExpiry) {
		m.ExpiresAt = now.UnixMilli() + int64(p.MessageExpiry)*1000 // section 3.3.2.3.3
	}
	pr := &m.Props
	if p.Has(packet.PropPayloadFormat) {
		pr.PayloadFormat, pr.Has = p.PayloadFormat, pr.Has|hasPayloadFormat
	}
	if p.Has(packet.PropContentType) {
		pr.ContentType, pr.Has = p.ContentType, pr.Has|hasContentType
	}
	if p.Has(packet.PropResponseTopic) {
		pr.ResponseTopic, pr.Has = p.ResponseTopic, pr.Has|hasResponseTopic
	}
	if p.Has(packet.PropCorrelationData) {
		pr.CorrelationData, pr.Has = clone(p.CorrelationData), pr.Has|hasCorrelationData
	}
	pr.User = p.User
	return m
}

// Size is what m weighs against the broker's byte limits
// (RetainedLimits.Bytes, Config.MaxWillSize, Config.MaxQueuedBytes): its
// topic, payload and properties, without encoding overhead but for user
// properties, which count their 5 bytes of encoding each so that many empty
// ones are not free. It depends only on m's strings and bytes, so a store
// that decodes a message it encoded gets the same size.
func (m *Message) Size() int {
	n := len(m.Topic) + len(m.Payload) + len(m.Props.ContentType) + len(m.Props.ResponseTopic) + len(m.Props.CorrelationData)
	for _, u := range m.Props.User {
		n += 5 + len(u.Key) + len(u.Value)
	}
	return n
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// publishPacket fills p with the PUBLISH that delivers m at version v. The
// Message Expiry Interval is the time left [MQTT-3.3.2-6]; the other
// properties go through unaltered, user properties in order [MQTT-3.3.2-18].
func (m *Message) publishPacket(p *packet.Publish, qos byte, retain bool, subIDs []uint32, v packet.Version, now time.Time) {
	*p = packet.Publish{Topic: m.Topic, Payload: m.Payload, QoS: qos, Retain: retain}
	if v < packet.V5 {
		return
	}
	props := &p.Properties
	if m.ExpiresAt != 0 {
		left := (m.ExpiresAt - now.UnixMilli() + 999) / 1000
		props.MessageExpiry = uint32(max(left, 1))
		props.Set(packet.PropMessageExpiry)
	}
	pr := &m.Props
	if pr.Has&hasPayloadFormat != 0 {
		props.PayloadFormat = pr.PayloadFormat
		props.Set(packet.PropPayloadFormat)
	}
	if pr.Has&hasContentType != 0 {
		props.ContentType = pr.ContentType
		props.Set(packet.PropContentType)
	}
	if pr.Has&hasResponseTopic != 0 {
		props.ResponseTopic = pr.ResponseTopic
		props.Set(packet.PropResponseTopic)
	}
	if pr.Has&hasCorrelationData != 0 {
		props.CorrelationData = pr.CorrelationData
		props.Set(packet.PropCorrelationData)
	}
	props.User = pr.User
	props.SubscriptionIDs = subIDs // [MQTT-3.3.4-3]
}

// fits reports whether o, which may have no packet identifier yet, encodes
// at version v within maxSize bytes (0: no limit) [MQTT-3.1.2-24].
func (c *call) fits(o *Outbound, v packet.Version, maxSize uint32) bool {
	if maxSize == 0 {
		return true
	}
	probe := *o
	if probe.QoS > 0 && probe.PacketID == 0 {
		probe.PacketID = 1 // any identifier gives the size; 0 does not encode
	}
	return c.encodeOut(&probe, false, v, maxSize) != nil
}

// encodeOut encodes an outbound message for a connection at version v with
// maximum packet size maxSize (0: none). It returns nil when the packet is
// larger than the client accepts: the server then acts as if it had sent it
// [MQTT-3.1.2-25].
func (c *call) encodeOut(o *Outbound, dup bool, v packet.Version, maxSize uint32) []byte {
	b, err := EncodeOutbound(o, dup, v, maxSize, c.now)
	if errors.Is(err, ErrTooLarge) {
		c.h.log.Debug("message larger than the client's maximum packet size dropped",
			"topic", o.Message.Topic, "max", maxSize) // [MQTT-3.1.2-24]
		return nil
	}
	if err != nil {
		c.h.log.Error("encode outbound message", "topic", o.Message.Topic, "err", err)
		return nil
	}
	return b
}

// ErrTooLarge is a PUBLISH larger than the client's Maximum Packet Size: the
// server acts as if it had sent it [MQTT-3.1.2-25].
var ErrTooLarge = errors.New("session: PUBLISH larger than the client's maximum packet size")

// EncodeOutbound encodes an outbound message for a connection at version v
// with maximum packet size maxSize (0: none), its expiry counted at now: the
// one rule for every PUBLISH the broker writes, whether the handlers encode
// it (v1) or the proxy's window hands it out (v2). Subscription identifiers
// go only to 5.0 clients. ErrTooLarge when the packet is larger than the
// client accepts [MQTT-3.1.2-24].
func EncodeOutbound(o *Outbound, dup bool, v packet.Version, maxSize uint32, now time.Time) ([]byte, error) {
	subIDs := o.SubIDs
	if v < packet.V5 {
		subIDs = nil
	}
	var p packet.Publish // on the stack: one allocation per frame, its bytes
	o.Message.publishPacket(&p, o.QoS, o.Retain, subIDs, v, now)
	p.PacketID = o.PacketID
	p.Dup = dup && o.QoS > 0 // [MQTT-3.3.1-1] DUP on redelivery only, [MQTT-3.3.1-2] never at QoS 0
	b, err := p.Append(nil, v)
	if err != nil {
		return nil, fmt.Errorf("session: encode PUBLISH to %q: %w", o.Message.Topic, err)
	}
	if maxSize != 0 && uint32(len(b)) > maxSize {
		return nil, fmt.Errorf("%d bytes, %d allowed: %w", len(b), maxSize, ErrTooLarge)
	}
	return b, nil
}
