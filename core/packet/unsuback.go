package packet

// Unsuback is an UNSUBACK packet (section 3.11). At 3.1.1 it carries only
// the packet identifier.
type Unsuback struct {
	PacketID    uint16
	Properties  Properties   // 5.0 only
	ReasonCodes []ReasonCode // 5.0 only: one per filter, in order [MQTT-3.11.3-1]
}

// Type returns UNSUBACK.
func (p *Unsuback) Type() Type { return UNSUBACK }

// Decode decodes an UNSUBACK frame.
func (p *Unsuback) Decode(frame []byte, v Version) error { return p.DecodeWith(frame, v, Limits{}) }

// DecodeWith decodes a UNSUBACK frame under lim.
func (p *Unsuback) DecodeWith(frame []byte, v Version, lim Limits) error {
	_, b, err := body(frame, UNSUBACK, v)
	if err != nil {
		return err
	}
	*p = Unsuback{}
	d := decoder{b: b, lim: lim}
	p.PacketID = d.u16("UNSUBACK packet identifier")
	if v < V5 {
		return d.end("UNSUBACK")
	}
	d.properties(&p.Properties, UNSUBACK)
	p.ReasonCodes, err = reasonList(&d, "UNSUBACK", v, unsubackReasons, unsubackReasons)
	return err
}

// Append appends the UNSUBACK at version v to dst; below 5.0 the reason
// codes and properties are left out.
func (p *Unsuback) Append(dst []byte, v Version) ([]byte, error) {
	if err := checkVersion(v); err != nil {
		return dst, err
	}
	if v < V5 {
		dst, err := appendHeader(dst, UNSUBACK, 0, 2)
		return appendU16(dst, p.PacketID), err
	}
	if len(p.ReasonCodes) == 0 {
		return dst, wrap(ErrMalformed, "UNSUBACK without reason codes") // [MQTT-3.11.3-2] one per filter
	}
	if err := p.Properties.check(UNSUBACK); err != nil {
		return dst, err
	}
	for _, c := range p.ReasonCodes {
		if !unsubackReasons.has(c) {
			return dst, wrap(ErrReasonCode, "UNSUBACK reason code 0x%02X", byte(c))
		}
	}
	pt, ps := propsSize(&p.Properties, v)
	dst, err := appendHeader(dst, UNSUBACK, 0, 2+pt+len(p.ReasonCodes))
	if err != nil {
		return dst, err
	}
	dst = appendU16(dst, p.PacketID)
	dst = appendProps(dst, &p.Properties, v, ps)
	for _, c := range p.ReasonCodes {
		dst = append(dst, byte(c))
	}
	return dst, nil
}
