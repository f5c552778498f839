package packet

// v4SubackCodes are the return codes of a 3.1.1 SUBACK (section 3.9.3).
var v4SubackCodes = newReasonSet(GrantedQoS0, GrantedQoS1, GrantedQoS2, UnspecifiedError)

// GrantedQoS0 is reason code 0x00 as a SUBACK names it.
const GrantedQoS0 = Success

// Suback is a SUBACK packet (section 3.9): one reason code per topic filter
// of the SUBSCRIBE it answers, in the same order [MQTT-3.9.3-1].
type Suback struct {
	PacketID   uint16
	Properties Properties // 5.0 only
	// ReasonCodes holds 5.0 reason codes. At 3.1.1 Append writes any
	// failure code as 0x80.
	ReasonCodes []ReasonCode
}

// Type returns SUBACK.
func (p *Suback) Type() Type { return SUBACK }

// Decode decodes a SUBACK frame.
func (p *Suback) Decode(frame []byte, v Version) error { return p.DecodeWith(frame, v, Limits{}) }

// DecodeWith decodes a SUBACK frame under lim.
func (p *Suback) DecodeWith(frame []byte, v Version, lim Limits) error {
	_, b, err := body(frame, SUBACK, v)
	if err != nil {
		return err
	}
	*p = Suback{}
	d := decoder{b: b, lim: lim}
	p.PacketID = d.u16("SUBACK packet identifier")
	if v == V5 {
		d.properties(&p.Properties, SUBACK)
	}
	p.ReasonCodes, err = reasonList(&d, "SUBACK", v, v4SubackCodes, subackReasons)
	return err
}

// reasonList reads the reason codes that fill the rest of a SUBACK or
// UNSUBACK and checks each against the set for version v.
func reasonList(d *decoder, name string, v Version, v4, v5 reasonSet) ([]ReasonCode, error) {
	if d.err != nil {
		return nil, d.err
	}
	rest := d.rest()
	if len(rest) == 0 {
		return nil, wrap(ErrMalformed, "%s without reason codes", name)
	}
	valid := v5
	if v < V5 {
		valid = v4
	}
	codes := make([]ReasonCode, len(rest))
	for i, c := range rest {
		if !valid.has(ReasonCode(c)) {
			return nil, wrap(ErrReasonCode, "%s reason code 0x%02X", name, c)
		}
		codes[i] = ReasonCode(c)
	}
	return codes, nil
}

// Append appends the SUBACK at version v to dst.
func (p *Suback) Append(dst []byte, v Version) ([]byte, error) {
	if err := checkVersion(v); err != nil {
		return dst, err
	}
	if len(p.ReasonCodes) == 0 {
		return dst, wrap(ErrMalformed, "SUBACK without reason codes") // [MQTT-3.8.4-6] one per filter
	}
	if err := checkProps(&p.Properties, SUBACK, v); err != nil {
		return dst, err
	}
	for _, c := range p.ReasonCodes {
		if !subackReasons.has(c) {
			return dst, wrap(ErrReasonCode, "SUBACK reason code 0x%02X", byte(c))
		}
	}
	pt, ps := propsSize(&p.Properties, v)
	dst, err := appendHeader(dst, SUBACK, 0, 2+pt+len(p.ReasonCodes))
	if err != nil {
		return dst, err
	}
	dst = appendU16(dst, p.PacketID)
	dst = appendProps(dst, &p.Properties, v, ps)
	for _, c := range p.ReasonCodes {
		if v < V5 && c.IsError() {
			c = UnspecifiedError // 3.1.1 has only 0x80 Failure
		}
		dst = append(dst, byte(c))
	}
	return dst, nil
}
