package packet

// Unsubscribe is an UNSUBSCRIBE packet (section 3.10).
type Unsubscribe struct {
	PacketID   uint16
	Properties Properties // 5.0 only
	Filters    []string
}

// Type returns UNSUBSCRIBE.
func (p *Unsubscribe) Type() Type { return UNSUBSCRIBE }

// Decode decodes an UNSUBSCRIBE frame.
func (p *Unsubscribe) Decode(frame []byte, v Version) error { return p.DecodeWith(frame, v, Limits{}) }

// DecodeWith decodes a UNSUBSCRIBE frame under lim.
func (p *Unsubscribe) DecodeWith(frame []byte, v Version, lim Limits) error {
	_, b, err := body(frame, UNSUBSCRIBE, v) // [MQTT-3.10.1-1]
	if err != nil {
		return err
	}
	*p = Unsubscribe{}
	d := decoder{b: b, lim: lim}
	p.PacketID = d.u16("UNSUBSCRIBE packet identifier")
	if d.err == nil && p.PacketID == 0 {
		return wrap(ErrPacketIDZero, "UNSUBSCRIBE") // [MQTT-2.2.1-3]
	}
	if v == V5 {
		d.properties(&p.Properties, UNSUBSCRIBE)
	}
	if d.err == nil && d.remaining() == 0 {
		return wrap(ErrNoTopicFilters, "UNSUBSCRIBE") // [MQTT-3.10.3-2]
	}
	for d.err == nil && d.remaining() > 0 {
		f := d.str("UNSUBSCRIBE topic filter") // [MQTT-3.10.3-1]
		if d.err == nil {
			p.Filters = append(p.Filters, f)
		}
	}
	return d.end("UNSUBSCRIBE")
}

// Append appends the UNSUBSCRIBE at version v to dst.
func (p *Unsubscribe) Append(dst []byte, v Version) ([]byte, error) {
	if err := checkVersion(v); err != nil {
		return dst, err
	}
	if p.PacketID == 0 {
		return dst, wrap(ErrPacketIDZero, "UNSUBSCRIBE") // [MQTT-2.2.1-3]
	}
	if len(p.Filters) == 0 {
		return dst, wrap(ErrNoTopicFilters, "UNSUBSCRIBE") // [MQTT-3.10.3-2]
	}
	if err := checkProps(&p.Properties, UNSUBSCRIBE, v); err != nil {
		return dst, err
	}
	pt, ps := propsSize(&p.Properties, v)
	rem := 2 + pt
	for _, f := range p.Filters {
		if err := checkLen16("topic filter", len(f)); err != nil {
			return dst, err
		}
		rem += 2 + len(f)
	}
	dst, err := appendHeader(dst, UNSUBSCRIBE, 0x02, rem) // [MQTT-3.10.1-1]
	if err != nil {
		return dst, err
	}
	dst = appendU16(dst, p.PacketID)
	dst = appendProps(dst, &p.Properties, v, ps)
	for _, f := range p.Filters {
		dst = appendString(dst, f)
	}
	return dst, nil
}
