package packet

// Subscription is one topic filter of a SUBSCRIBE with its options
// (section 3.8.3.1).
type Subscription struct {
	Filter            string
	QoS               byte // the maximum QoS
	NoLocal           bool // 5.0 only
	RetainAsPublished bool // 5.0 only
	RetainHandling    byte // 5.0 only: 0, 1 or 2
}

// Subscribe is a SUBSCRIBE packet (section 3.8). Decode checks each
// filter's encoding, not its wildcard syntax: a server answers an invalid
// filter in the SUBACK (0x8F at 5.0, 0x80 at 3.1.1) rather than by closing
// the connection, so it validates filters itself with core/topic.
type Subscribe struct {
	PacketID      uint16
	Properties    Properties // 5.0 only
	Subscriptions []Subscription
}

// Type returns SUBSCRIBE.
func (p *Subscribe) Type() Type { return SUBSCRIBE }

// Decode decodes a SUBSCRIBE frame.
func (p *Subscribe) Decode(frame []byte, v Version) error { return p.DecodeWith(frame, v, Limits{}) }

// DecodeWith decodes a SUBSCRIBE frame under lim.
func (p *Subscribe) DecodeWith(frame []byte, v Version, lim Limits) error {
	_, b, err := body(frame, SUBSCRIBE, v) // [MQTT-3.8.1-1]
	if err != nil {
		return err
	}
	*p = Subscribe{}
	d := decoder{b: b, lim: lim}
	p.PacketID = d.u16("SUBSCRIBE packet identifier")
	if d.err == nil && p.PacketID == 0 {
		return wrap(ErrPacketIDZero, "SUBSCRIBE") // [MQTT-2.2.1-3]
	}
	if v == V5 {
		d.properties(&p.Properties, SUBSCRIBE)
	}
	if d.err == nil && d.remaining() == 0 {
		return wrap(ErrNoTopicFilters, "SUBSCRIBE") // [MQTT-3.8.3-2]
	}
	for d.err == nil && d.remaining() > 0 {
		s := Subscription{Filter: d.str("SUBSCRIBE topic filter")} // [MQTT-3.8.3-1]
		opts := d.u8("subscription options")
		if d.err != nil {
			break
		}
		s.QoS = opts & 3
		if v < V5 {
			if s.QoS == 3 {
				return wrap(ErrInvalidQoS, "subscription QoS 3 for %q", s.Filter) // 3.1.1: [MQTT-3.8.3-4]
			}
			if opts&^3 != 0 {
				return wrap(ErrSubscriptionOptions, "0x%02X for %q", opts, s.Filter) // 3.1.1: [MQTT-3.8.3-4]
			}
		} else {
			if opts&0xC0 != 0 {
				return wrap(ErrSubscriptionOptions, "0x%02X for %q", opts, s.Filter) // [MQTT-3.8.3-5]
			}
			if s.QoS == 3 {
				return wrap(ErrSubscriptionQoS, "for %q", s.Filter) // section 3.8.3.1
			}
			s.NoLocal = opts&0x04 != 0
			s.RetainAsPublished = opts&0x08 != 0
			s.RetainHandling = opts >> 4 & 3
			if s.RetainHandling == 3 {
				return wrap(ErrRetainHandling, "for %q", s.Filter) // section 3.8.3.1
			}
			if s.NoLocal && isShared(s.Filter) {
				return wrap(ErrSharedNoLocal, "%q", s.Filter) // [MQTT-3.8.3-4]
			}
		}
		p.Subscriptions = append(p.Subscriptions, s)
	}
	return d.end("SUBSCRIBE")
}

// Append appends the SUBSCRIBE at version v to dst. Below 5.0 it refuses
// the 5.0-only options with ErrVersion.
func (p *Subscribe) Append(dst []byte, v Version) ([]byte, error) {
	if err := checkVersion(v); err != nil {
		return dst, err
	}
	if p.PacketID == 0 {
		return dst, wrap(ErrPacketIDZero, "SUBSCRIBE") // [MQTT-2.2.1-3]
	}
	if len(p.Subscriptions) == 0 {
		return dst, wrap(ErrNoTopicFilters, "SUBSCRIBE") // [MQTT-3.8.3-2]
	}
	if err := checkProps(&p.Properties, SUBSCRIBE, v); err != nil {
		return dst, err
	}
	pt, ps := propsSize(&p.Properties, v)
	rem := 2 + pt
	for i := range p.Subscriptions {
		s := &p.Subscriptions[i]
		if err := checkLen16("topic filter", len(s.Filter)); err != nil {
			return dst, err
		}
		if s.QoS > 2 {
			return dst, wrap(ErrInvalidQoS, "subscription QoS %d", s.QoS)
		}
		if s.RetainHandling > 2 {
			return dst, wrap(ErrRetainHandling, "for %q", s.Filter)
		}
		if v < V5 && (s.NoLocal || s.RetainAsPublished || s.RetainHandling != 0) {
			return dst, wrap(ErrVersion, "subscription options for %q at %s", s.Filter, v)
		}
		rem += 3 + len(s.Filter)
	}
	dst, err := appendHeader(dst, SUBSCRIBE, 0x02, rem) // [MQTT-3.8.1-1]
	if err != nil {
		return dst, err
	}
	dst = appendU16(dst, p.PacketID)
	dst = appendProps(dst, &p.Properties, v, ps)
	for i := range p.Subscriptions {
		s := &p.Subscriptions[i]
		opts := s.QoS | s.RetainHandling<<4
		if s.NoLocal {
			opts |= 0x04
		}
		if s.RetainAsPublished {
			opts |= 0x08
		}
		dst = appendString(dst, s.Filter)
		dst = append(dst, opts)
	}
	return dst, nil
}
