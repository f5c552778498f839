package packet

import (
	"strings"

	"github.com/mqttless/mqttless/core/topic"
)

// New returns an empty packet of type t, or nil for a type that does not
// exist.
func New(t Type) Packet {
	switch t {
	case CONNECT:
		return new(Connect)
	case CONNACK:
		return new(Connack)
	case PUBLISH:
		return new(Publish)
	case PUBACK:
		return new(Puback)
	case PUBREC:
		return new(Pubrec)
	case PUBREL:
		return new(Pubrel)
	case PUBCOMP:
		return new(Pubcomp)
	case SUBSCRIBE:
		return new(Subscribe)
	case SUBACK:
		return new(Suback)
	case UNSUBSCRIBE:
		return new(Unsubscribe)
	case UNSUBACK:
		return new(Unsuback)
	case PINGREQ:
		return new(Pingreq)
	case PINGRESP:
		return new(Pingresp)
	case DISCONNECT:
		return new(Disconnect)
	case AUTH:
		return new(Auth)
	}
	return nil
}

// Decode decodes one whole frame, fixed header included, at protocol
// version v (a CONNECT carries its own version and ignores v). On failure
// it returns the error together with the packet as far as it was decoded,
// or a nil packet when the type itself is invalid.
func Decode(frame []byte, v Version) (Packet, error) { return DecodeWith(frame, v, Limits{}) }

// DecodeWith is Decode under lim.
func DecodeWith(frame []byte, v Version, lim Limits) (Packet, error) {
	if len(frame) == 0 {
		return nil, ErrTruncated
	}
	t := Type(frame[0] >> 4)
	p := New(t)
	if p == nil {
		return nil, wrap(ErrInvalidType, "type %d", t) // section 2.1.2: reserved
	}
	if l, ok := p.(interface {
		DecodeWith([]byte, Version, Limits) error
	}); ok {
		return p, l.DecodeWith(frame, v, lim)
	}
	return p, p.Decode(frame, v)
}

// Encode appends p's wire form at protocol version v to dst.
func Encode(dst []byte, p Packet, v Version) ([]byte, error) { return p.Append(dst, v) }

// body checks the fixed header of frame against packet type t at version v
// and returns the header and the bytes after it. The frame must hold exactly
// the remaining length the header declares.
func body(frame []byte, t Type, v Version) (FixedHeader, []byte, error) {
	h, n, err := ParseFixedHeader(frame)
	if err != nil {
		return h, nil, wrap(err.(*Error), "%s fixed header", t)
	}
	if h.Type != t {
		return h, nil, wrap(ErrInvalidType, "%s where %s was expected", h.Type, t)
	}
	if err := h.check(v); err != nil {
		return h, nil, err
	}
	if n != 1+varIntLen(h.Remaining) {
		// Framing (Split, FrameReader) accepts the longer forms; decoding does not.
		return h, nil, wrap(ErrVarInt, "%s remaining length %d in %d bytes, not the shortest form",
			t, h.Remaining, n-1) // [MQTT-1.5.5-1]
	}
	switch have := len(frame) - n; {
	case have < h.Remaining:
		return h, nil, wrap(ErrTruncated, "%s of %d bytes holds %d", t, h.Remaining, have)
	case have > h.Remaining:
		return h, nil, wrap(ErrTrailingBytes, "%s of %d bytes holds %d", t, h.Remaining, have)
	}
	return h, frame[n:], nil
}

// validTopicName checks a topic name that is already known to be valid
// UTF-8 ([MQTT-3.3.2-2], [MQTT-4.7.3-1]).
func validTopicName(name string) error { return topic.ValidateName(name) }

// isShared reports whether filter names a shared subscription (section 4.8.2).
func isShared(filter string) bool { return strings.HasPrefix(filter, "$share/") }

// propsSize returns the size of the property length and the properties of
// p, or 0 below MQTT 5.0, where packets carry no properties.
func propsSize(p *Properties, v Version) (total, size int) {
	if v < V5 {
		return 0, 0
	}
	size = p.size()
	return varIntLen(size) + size, size
}

// appendProps appends the property length and properties at MQTT 5.0 and
// nothing before it.
func appendProps(dst []byte, p *Properties, v Version, size int) []byte {
	if v < V5 {
		return dst
	}
	return p.appendTo(dst, size)
}

// checkProps validates p for a packet of type t at version v. Below 5.0 the
// properties are ignored.
func checkProps(p *Properties, t Type, v Version) error {
	if v < V5 {
		return nil
	}
	return p.check(t)
}

// checkVersion refuses versions this package does not know.
func checkVersion(v Version) error {
	if v < V31 || v > V5 {
		return wrap(ErrVersion, "protocol level %d", byte(v))
	}
	return nil
}
