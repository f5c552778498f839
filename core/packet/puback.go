package packet

// Puback is a PUBACK packet (section 3.4): it acknowledges a QoS 1 PUBLISH.
type Puback struct {
	PacketID   uint16
	ReasonCode ReasonCode // 5.0 only; Success at 3.1.1
	Properties Properties // 5.0 only
}

// Type returns PUBACK.
func (p *Puback) Type() Type { return PUBACK }

// Decode decodes a PUBACK frame.
func (p *Puback) Decode(frame []byte, v Version) error { return p.DecodeWith(frame, v, Limits{}) }

// DecodeWith decodes a PUBACK frame under lim.
func (p *Puback) DecodeWith(frame []byte, v Version, lim Limits) error {
	return pubackCodec.decode(frame, v, lim, &p.PacketID, &p.ReasonCode, &p.Properties)
}

// Append appends the PUBACK at version v to dst, in its shortest form.
func (p *Puback) Append(dst []byte, v Version) ([]byte, error) {
	return pubackCodec.append(dst, v, p.PacketID, p.ReasonCode, &p.Properties)
}
