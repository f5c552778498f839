package packet

// Auth is an AUTH packet (section 3.15), which exists only at 5.0.
type Auth struct {
	ReasonCode ReasonCode
	Properties Properties
}

// Type returns AUTH.
func (p *Auth) Type() Type { return AUTH }

// Decode decodes an AUTH frame. Below 5.0 it fails with ErrInvalidType.
func (p *Auth) Decode(frame []byte, v Version) error { return p.DecodeWith(frame, v, Limits{}) }

// DecodeWith decodes a AUTH frame under lim.
func (p *Auth) DecodeWith(frame []byte, v Version, lim Limits) error {
	return decodeReasoned(frame, AUTH, v, lim, authReasons, &p.ReasonCode, &p.Properties)
}

// Append appends the AUTH to dst. Below 5.0 it fails with ErrVersion.
func (p *Auth) Append(dst []byte, v Version) ([]byte, error) {
	if v != V5 {
		return dst, wrap(ErrVersion, "AUTH at %s", v)
	}
	return appendReasoned(dst, AUTH, authReasons, p.ReasonCode, &p.Properties)
}
