package packet

// Pubrel is a PUBREL packet (section 3.6): it releases a QoS 2 PUBLISH after its PUBREC.
type Pubrel struct {
	PacketID   uint16
	ReasonCode ReasonCode // 5.0 only; Success at 3.1.1
	Properties Properties // 5.0 only
}

// Type returns PUBREL.
func (p *Pubrel) Type() Type { return PUBREL }

// Decode decodes a PUBREL frame.
func (p *Pubrel) Decode(frame []byte, v Version) error { return p.DecodeWith(frame, v, Limits{}) }

// DecodeWith decodes a PUBREL frame under lim.
func (p *Pubrel) DecodeWith(frame []byte, v Version, lim Limits) error {
	return pubrelCodec.decode(frame, v, lim, &p.PacketID, &p.ReasonCode, &p.Properties)
}

// Append appends the PUBREL at version v to dst, in its shortest form.
func (p *Pubrel) Append(dst []byte, v Version) ([]byte, error) {
	return pubrelCodec.append(dst, v, p.PacketID, p.ReasonCode, &p.Properties)
}
