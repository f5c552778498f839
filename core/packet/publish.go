package packet

import "unicode/utf8"

// Publish is a PUBLISH packet (section 3.3).
type Publish struct {
	Dup        bool
	QoS        byte
	Retain     bool
	Topic      string // may be empty at 5.0 when Properties carry a Topic Alias
	PacketID   uint16 // only at QoS 1 and 2
	Properties Properties
	Payload    []byte // aliases the decoded frame
}

// Type returns PUBLISH.
func (p *Publish) Type() Type { return PUBLISH }

// Decode decodes a PUBLISH frame. It copies the topic (one allocation) and
// leaves Payload aliasing frame.
func (p *Publish) Decode(frame []byte, v Version) error { return p.DecodeWith(frame, v, Limits{}) }

// DecodeWith decodes a PUBLISH frame under lim.
func (p *Publish) DecodeWith(frame []byte, v Version, lim Limits) error {
	h, b, err := body(frame, PUBLISH, v)
	if err != nil {
		return err
	}
	*p = Publish{Dup: h.Flags&0x08 != 0, QoS: h.Flags >> 1 & 3, Retain: h.Flags&0x01 != 0}
	if p.QoS == 3 {
		return wrap(ErrInvalidQoS, "PUBLISH QoS 3") // [MQTT-3.3.1-4]
	}
	if p.QoS == 0 && p.Dup {
		return ErrDupWithQoS0 // [MQTT-3.3.1-2]
	}
	d := decoder{b: b, lim: lim}
	p.Topic = d.str("PUBLISH topic name") // [MQTT-3.3.2-1]
	if p.QoS > 0 {
		p.PacketID = d.u16("PUBLISH packet identifier")
		if d.err == nil && p.PacketID == 0 {
			return wrap(ErrPacketIDZero, "PUBLISH at QoS %d", p.QoS) // [MQTT-2.2.1-3]
		}
	}
	if v == V5 {
		d.properties(&p.Properties, PUBLISH)
	}
	p.Payload = d.rest()
	if d.err != nil {
		return d.err
	}
	if p.Topic == "" {
		if v == V5 && p.Properties.Has(PropTopicAlias) {
			return nil // the alias stands for the topic (section 3.3.2.3.4)
		}
		if v == V5 {
			return ErrNoTopic // [MQTT-3.3.2-1] with section 3.3.2.3.4
		}
	}
	if err := validTopicName(p.Topic); err != nil {
		return wrap(ErrTopicName, "%q: %v", p.Topic, err) // [MQTT-3.3.2-2] [MQTT-4.7.3-1]
	}
	return nil
}

// Append appends the PUBLISH at version v to dst.
func (p *Publish) Append(dst []byte, v Version) ([]byte, error) {
	if err := checkVersion(v); err != nil {
		return dst, err
	}
	if p.QoS > 2 {
		return dst, wrap(ErrInvalidQoS, "PUBLISH QoS %d", p.QoS) // [MQTT-3.3.1-4]
	}
	if p.QoS == 0 && p.Dup {
		return dst, ErrDupWithQoS0 // [MQTT-3.3.1-2]
	}
	if p.QoS > 0 && p.PacketID == 0 {
		return dst, wrap(ErrPacketIDZero, "PUBLISH at QoS %d", p.QoS) // [MQTT-2.2.1-3] [MQTT-2.2.1-4]
	}
	if err := checkLen16("PUBLISH topic name", len(p.Topic)); err != nil {
		return dst, err
	}
	if err := checkProps(&p.Properties, PUBLISH, v); err != nil {
		return dst, err
	}
	pt, ps := propsSize(&p.Properties, v)
	rem := 2 + len(p.Topic) + pt + len(p.Payload)
	if p.QoS > 0 {
		rem += 2
	}
	flags := p.QoS << 1
	if p.Dup {
		flags |= 0x08
	}
	if p.Retain {
		flags |= 0x01
	}
	dst, err := appendHeader(dst, PUBLISH, flags, rem)
	if err != nil {
		return dst, err
	}
	dst = appendString(dst, p.Topic)
	if p.QoS > 0 {
		dst = appendU16(dst, p.PacketID)
	}
	dst = appendProps(dst, &p.Properties, v, ps)
	return append(dst, p.Payload...), nil
}

// CheckFromClient applies the rules for a PUBLISH that a server receives
// and that need no session state: no Subscription Identifier
// [MQTT-3.3.4-6] (ErrPropertyValue), and a payload that is valid UTF-8 when
// its Payload Format Indicator is 1 (ErrPayloadFormat; a server may check
// this, section 3.3.2.3.2).
func (p *Publish) CheckFromClient() error {
	if len(p.Properties.SubscriptionIDs) > 0 {
		return wrap(ErrPropertyValue, "Subscription Identifier in a PUBLISH from a client") // [MQTT-3.3.4-6]
	}
	return CheckPayloadFormat(&p.Properties, p.Payload)
}

// CheckPayloadFormat returns ErrPayloadFormat when props say the payload is
// UTF-8 (Payload Format Indicator 1) and it is not (section 3.3.2.3.2,
// section 3.1.3.2.3 for will payloads).
func CheckPayloadFormat(props *Properties, payload []byte) error {
	if props.Has(PropPayloadFormat) && props.PayloadFormat == 1 && !utf8.Valid(payload) {
		return ErrPayloadFormat
	}
	return nil
}
