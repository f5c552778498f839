package packet

// Disconnect is a DISCONNECT packet (section 3.14). At 3.1.1 it has no body.
type Disconnect struct {
	ReasonCode ReasonCode // 5.0 only; Success (normal disconnection) at 3.1.1
	Properties Properties // 5.0 only
}

// Type returns DISCONNECT.
func (p *Disconnect) Type() Type { return DISCONNECT }

// Decode decodes a DISCONNECT frame.
func (p *Disconnect) Decode(frame []byte, v Version) error { return p.DecodeWith(frame, v, Limits{}) }

// DecodeWith decodes a DISCONNECT frame under lim.
func (p *Disconnect) DecodeWith(frame []byte, v Version, lim Limits) error {
	return decodeReasoned(frame, DISCONNECT, v, lim, disconnectReasons, &p.ReasonCode, &p.Properties)
}

// Append appends the DISCONNECT at version v to dst in its shortest form.
func (p *Disconnect) Append(dst []byte, v Version) ([]byte, error) {
	if err := checkVersion(v); err != nil {
		return dst, err
	}
	if v < V5 {
		return append(dst, byte(DISCONNECT)<<4, 0), nil
	}
	return appendReasoned(dst, DISCONNECT, disconnectReasons, p.ReasonCode, &p.Properties)
}

// decodeReasoned decodes the body shared by DISCONNECT and AUTH: an optional
// reason code and optional properties, where a Remaining Length of 0 means
// Success with no properties (sections 3.14.2.1 and 3.15.2.1).
func decodeReasoned(frame []byte, t Type, v Version, lim Limits, valid reasonSet, rc *ReasonCode, props *Properties) error {
	_, b, err := body(frame, t, v)
	if err != nil {
		return err
	}
	*rc, *props = Success, Properties{}
	if v < V5 {
		if len(b) != 0 {
			return wrap(ErrTrailingBytes, "%s with a body at %s", t, v)
		}
		return nil
	}
	d := decoder{b: b, lim: lim}
	if d.remaining() > 0 {
		*rc = ReasonCode(d.u8(t.String() + " reason code"))
		if !valid.has(*rc) {
			return wrap(ErrReasonCode, "%s reason code 0x%02X", t, byte(*rc))
		}
	}
	if d.remaining() > 0 {
		d.properties(props, t)
	}
	return d.end(t.String())
}

// appendReasoned appends a 5.0 DISCONNECT or AUTH in its shortest form.
func appendReasoned(dst []byte, t Type, valid reasonSet, rc ReasonCode, props *Properties) ([]byte, error) {
	if !valid.has(rc) {
		return dst, wrap(ErrReasonCode, "%s reason code 0x%02X", t, byte(rc))
	}
	if err := props.check(t); err != nil {
		return dst, err
	}
	pt, ps := propsSize(props, V5)
	rem := 0
	switch {
	case !props.Empty():
		rem = 1 + pt
	case rc != Success:
		rem = 1
	}
	dst, err := appendHeader(dst, t, 0, rem)
	if err != nil || rem == 0 {
		return dst, err
	}
	dst = append(dst, byte(rc))
	if rem > 1 {
		dst = props.appendTo(dst, ps)
	}
	return dst, nil
}
