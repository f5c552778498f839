package packet

// Pubcomp is a PUBCOMP packet (section 3.7): it completes a QoS 2 exchange.
type Pubcomp struct {
	PacketID   uint16
	ReasonCode ReasonCode // 5.0 only; Success at 3.1.1
	Properties Properties // 5.0 only
}

// Type returns PUBCOMP.
func (p *Pubcomp) Type() Type { return PUBCOMP }

// Decode decodes a PUBCOMP frame.
func (p *Pubcomp) Decode(frame []byte, v Version) error { return p.DecodeWith(frame, v, Limits{}) }

// DecodeWith decodes a PUBCOMP frame under lim.
func (p *Pubcomp) DecodeWith(frame []byte, v Version, lim Limits) error {
	return pubcompCodec.decode(frame, v, lim, &p.PacketID, &p.ReasonCode, &p.Properties)
}

// Append appends the PUBCOMP at version v to dst, in its shortest form.
func (p *Pubcomp) Append(dst []byte, v Version) ([]byte, error) {
	return pubcompCodec.append(dst, v, p.PacketID, p.ReasonCode, &p.Properties)
}
