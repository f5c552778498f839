package packet

// Pubrec is a PUBREC packet (section 3.5): it is the first acknowledgement of a QoS 2 PUBLISH.
type Pubrec struct {
	PacketID   uint16
	ReasonCode ReasonCode // 5.0 only; Success at 3.1.1
	Properties Properties // 5.0 only
}

// Type returns PUBREC.
func (p *Pubrec) Type() Type { return PUBREC }

// Decode decodes a PUBREC frame.
func (p *Pubrec) Decode(frame []byte, v Version) error { return p.DecodeWith(frame, v, Limits{}) }

// DecodeWith decodes a PUBREC frame under lim.
func (p *Pubrec) DecodeWith(frame []byte, v Version, lim Limits) error {
	return pubrecCodec.decode(frame, v, lim, &p.PacketID, &p.ReasonCode, &p.Properties)
}

// Append appends the PUBREC at version v to dst, in its shortest form.
func (p *Pubrec) Append(dst []byte, v Version) ([]byte, error) {
	return pubrecCodec.append(dst, v, p.PacketID, p.ReasonCode, &p.Properties)
}
