package packet

// ack is the shared body of PUBACK, PUBREC, PUBREL and PUBCOMP (sections 3.4
// to 3.7): a packet identifier and, at 5.0, an optional reason code and
// optional properties.
type ack struct {
	t       Type
	reasons reasonSet
}

var (
	pubackCodec  = ack{PUBACK, pubackReasons}
	pubrecCodec  = ack{PUBREC, pubackReasons}
	pubrelCodec  = ack{PUBREL, pubrelReasons}
	pubcompCodec = ack{PUBCOMP, pubrelReasons}
)

func (a ack) decode(frame []byte, v Version, lim Limits, id *uint16, rc *ReasonCode, props *Properties) error {
	_, b, err := body(frame, a.t, v)
	if err != nil {
		return err
	}
	*props = Properties{}
	*rc = Success
	d := decoder{b: b, lim: lim}
	*id = d.u16(a.t.String() + " packet identifier")
	if d.err == nil && *id == 0 {
		return wrap(ErrPacketIDZero, "%s", a.t) // [MQTT-2.2.1-5]: a PUBLISH's id, never 0
	}
	if v == V5 && d.remaining() > 0 {
		// The reason code and property length may be left out: a Remaining
		// Length of 2 means Success and no properties (section 3.4.2.1).
		*rc = ReasonCode(d.u8(a.t.String() + " reason code"))
		if d.err == nil && !a.reasons.has(*rc) {
			return wrap(ErrReasonCode, "%s reason code 0x%02X", a.t, byte(*rc))
		}
		if d.remaining() > 0 {
			d.properties(props, a.t)
		}
	}
	return d.end(a.t.String())
}

func (a ack) append(dst []byte, v Version, id uint16, rc ReasonCode, props *Properties) ([]byte, error) {
	if err := checkVersion(v); err != nil {
		return dst, err
	}
	if id == 0 {
		return dst, wrap(ErrPacketIDZero, "%s", a.t) // [MQTT-2.2.1-5]: a PUBLISH's id, never 0
	}
	flags := requiredFlags[a.t] // [MQTT-3.6.1-1] for PUBREL
	if v < V5 {
		dst, err := appendHeader(dst, a.t, flags, 2)
		return appendU16(dst, id), err
	}
	if !a.reasons.has(rc) {
		return dst, wrap(ErrReasonCode, "%s reason code 0x%02X", a.t, byte(rc))
	}
	if err := props.check(a.t); err != nil {
		return dst, err
	}
	rem := 2
	pt, ps := propsSize(props, v)
	switch {
	case !props.Empty():
		rem += 1 + pt
	case rc != Success:
		rem++
	}
	dst, err := appendHeader(dst, a.t, flags, rem)
	if err != nil {
		return dst, err
	}
	dst = appendU16(dst, id)
	if rem > 2 {
		dst = append(dst, byte(rc))
	}
	if rem > 3 {
		dst = appendProps(dst, props, v, ps)
	}
	return dst, nil
}
