package packet

// Pingreq is a PINGREQ packet (section 3.12). It has no fields.
type Pingreq struct{}

// Pingresp is a PINGRESP packet (section 3.13). It has no fields.
type Pingresp struct{}

// Type returns PINGREQ.
func (p *Pingreq) Type() Type { return PINGREQ }

// Decode decodes a PINGREQ frame, which must have no body.
func (p *Pingreq) Decode(frame []byte, v Version) error { return decodeEmpty(frame, PINGREQ, v) }

// Append appends a PINGREQ to dst.
func (p *Pingreq) Append(dst []byte, v Version) ([]byte, error) { return appendEmpty(dst, PINGREQ, v) }

// Type returns PINGRESP.
func (p *Pingresp) Type() Type { return PINGRESP }

// Decode decodes a PINGRESP frame, which must have no body.
func (p *Pingresp) Decode(frame []byte, v Version) error { return decodeEmpty(frame, PINGRESP, v) }

// Append appends a PINGRESP to dst.
func (p *Pingresp) Append(dst []byte, v Version) ([]byte, error) {
	return appendEmpty(dst, PINGRESP, v)
}

func decodeEmpty(frame []byte, t Type, v Version) error {
	_, b, err := body(frame, t, v)
	if err == nil && len(b) != 0 {
		err = wrap(ErrTrailingBytes, "%s with a body of %d bytes", t, len(b))
	}
	return err
}

func appendEmpty(dst []byte, t Type, v Version) ([]byte, error) {
	if err := checkVersion(v); err != nil {
		return dst, err
	}
	return append(dst, byte(t)<<4, 0), nil
}
