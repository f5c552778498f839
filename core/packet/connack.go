package packet

// Connack is a CONNACK packet (section 3.2).
type Connack struct {
	SessionPresent bool
	// ReasonCode is the 5.0 reason code. At 3.1.1 Append maps it to a
	// return code (0x84 to 1, 0x85 to 2, 0x86 to 4, 0x87 and 0x8A to 5, any
	// other failure to 3) and Decode maps return codes back.
	ReasonCode ReasonCode
	Properties Properties // 5.0 only
}

// Type returns CONNACK.
func (p *Connack) Type() Type { return CONNACK }

// Decode decodes a CONNACK frame.
func (p *Connack) Decode(frame []byte, v Version) error { return p.DecodeWith(frame, v, Limits{}) }

// DecodeWith decodes a CONNACK frame under lim.
func (p *Connack) DecodeWith(frame []byte, v Version, lim Limits) error {
	_, b, err := body(frame, CONNACK, v)
	if err != nil {
		return err
	}
	*p = Connack{}
	d := decoder{b: b, lim: lim}
	flags := d.u8("connect acknowledge flags")
	rc := d.u8("connect reason code")
	if d.err != nil {
		return d.err
	}
	if flags&^1 != 0 {
		return wrap(ErrMalformed, "CONNACK reserved flags 0x%02X", flags) // [MQTT-3.2.2-1] reserved bits 7-1
	}
	p.SessionPresent = flags&1 != 0
	if v < V5 {
		if int(rc) >= len(connackV5) {
			return wrap(ErrReasonCode, "CONNACK return code %d", rc) // 3.1.1 section 3.2.2.3
		}
		p.ReasonCode = connackV5[rc]
		return d.end("CONNACK")
	}
	p.ReasonCode = ReasonCode(rc)
	if !connackReasons.has(p.ReasonCode) {
		return wrap(ErrReasonCode, "CONNACK reason code 0x%02X", rc)
	}
	d.properties(&p.Properties, CONNACK)
	return d.end("CONNACK")
}

// Append appends the CONNACK at version v to dst.
func (p *Connack) Append(dst []byte, v Version) ([]byte, error) {
	if err := checkVersion(v); err != nil {
		return dst, err
	}
	rc := byte(p.ReasonCode)
	if v < V5 {
		rc = connackV4(p.ReasonCode)
	} else if !connackReasons.has(p.ReasonCode) {
		return dst, wrap(ErrReasonCode, "CONNACK reason code 0x%02X", rc)
	}
	if err := checkProps(&p.Properties, CONNACK, v); err != nil {
		return dst, err
	}
	pt, ps := propsSize(&p.Properties, v)
	dst, err := appendHeader(dst, CONNACK, 0, 2+pt)
	if err != nil {
		return dst, err
	}
	var flags byte
	// [MQTT-3.2.2-6] (3.1.1: [MQTT-3.2.2-4]) session present is 0 on a refused connection.
	if p.SessionPresent && p.ReasonCode == Success {
		flags = 1
	}
	dst = append(dst, flags, rc)
	return appendProps(dst, &p.Properties, v, ps), nil
}
