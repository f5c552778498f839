package packet

import (
	"encoding/binary"
	"unicode/utf8"
)

// MaxVarInt is the largest value a Variable Byte Integer can hold
// (MQTT 5.0 section 1.5.5).
const MaxVarInt = 268_435_455

// decoder reads the fields of one packet body. Errors are sticky: once a
// read fails every later read returns zero values, and err holds the first
// failure, so decoders can read a run of fields and check err once.
type decoder struct {
	b   []byte
	off int
	err error
	// users and userBytes count the User Properties read so far in the
	// packet, and the bytes of their names and values, across all of its
	// property lists (a CONNECT has two), against lim.
	users, userBytes int
	lim              Limits
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

func (d *decoder) remaining() int { return len(d.b) - d.off }

func (d *decoder) u8(field string) byte {
	if d.err != nil {
		return 0
	}
	if d.off >= len(d.b) {
		d.fail(wrap(ErrTruncated, "%s", field))
		return 0
	}
	c := d.b[d.off]
	d.off++
	return c
}

func (d *decoder) u16(field string) uint16 {
	if d.err != nil {
		return 0
	}
	if d.remaining() < 2 {
		d.fail(wrap(ErrTruncated, "%s", field))
		return 0
	}
	v := binary.BigEndian.Uint16(d.b[d.off:])
	d.off += 2
	return v
}

func (d *decoder) u32(field string) uint32 {
	if d.err != nil {
		return 0
	}
	if d.remaining() < 4 {
		d.fail(wrap(ErrTruncated, "%s", field))
		return 0
	}
	v := binary.BigEndian.Uint32(d.b[d.off:])
	d.off += 4
	return v
}

// varint reads a Variable Byte Integer (section 1.5.5), which must be in its
// shortest form [MQTT-1.5.5-1].
func (d *decoder) varint(field string) uint32 {
	if d.err != nil {
		return 0
	}
	v, n, err := readVarInt(d.b[d.off:])
	if err != nil {
		d.fail(wrap(err.(*Error), "%s", field))
		return 0
	}
	if n != varIntLen(int(v)) {
		d.fail(wrap(ErrVarInt, "%s %d in %d bytes, not the shortest form", field, v, n)) // [MQTT-1.5.5-1]
		return 0
	}
	d.off += n
	return v
}

// binary reads Binary Data (section 1.5.6). The result aliases the frame.
func (d *decoder) binary(field string) []byte {
	n := int(d.u16(field))
	if d.err != nil {
		return nil
	}
	if d.remaining() < n {
		d.fail(wrap(ErrTruncated, "%s", field))
		return nil
	}
	b := d.b[d.off : d.off+n : d.off+n]
	d.off += n
	return b
}

// str reads a UTF-8 Encoded String (section 1.5.4) and copies it.
func (d *decoder) str(field string) string {
	b := d.binary(field)
	if d.err != nil {
		return ""
	}
	if !validUTF8(b) {
		d.fail(wrap(ErrInvalidUTF8, "%s", field))
		return ""
	}
	return string(b)
}

// rest returns the unread bytes, aliasing the frame.
func (d *decoder) rest() []byte {
	if d.err != nil {
		return nil
	}
	b := d.b[d.off:len(d.b):len(d.b)]
	d.off = len(d.b)
	return b
}

// end records ErrTrailingBytes if anything is left unread.
func (d *decoder) end(packet string) error {
	if d.err == nil && d.off != len(d.b) {
		d.fail(wrap(ErrTrailingBytes, "%s: %d bytes", packet, len(d.b)-d.off))
	}
	return d.err
}

// validUTF8 reports whether b is well-formed UTF-8 without U+0000
// [MQTT-1.5.4-1] [MQTT-1.5.4-2]. Go's decoder already refuses the encodings of
// the surrogates U+D800 to U+DFFF, which MQTT forbids too.
func validUTF8(b []byte) bool {
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == 0 {
			return false // [MQTT-1.5.4-2]
		}
		if c >= utf8.RuneSelf {
			return utf8.Valid(b[i:]) && !containsZero(b[i:]) // [MQTT-1.5.4-1]
		}
	}
	return true
}

func containsZero(b []byte) bool {
	for _, c := range b {
		if c == 0 {
			return true
		}
	}
	return false
}

// readVarInt decodes a Variable Byte Integer from the start of b. It returns
// ErrTruncated when b ends inside the integer and ErrVarInt when the integer
// runs past 4 bytes.
func readVarInt(b []byte) (v uint32, n int, err error) {
	var shift uint
	for i := 0; i < 4; i++ {
		if i >= len(b) {
			return 0, 0, ErrTruncated
		}
		c := b[i]
		v |= uint32(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, i + 1, nil
		}
		shift += 7
	}
	return 0, 0, ErrVarInt // section 1.5.5: at most four bytes
}

// varIntLen returns the number of bytes of v as a Variable Byte Integer.
func varIntLen(v int) int {
	switch {
	case v < 1<<7:
		return 1
	case v < 1<<14:
		return 2
	case v < 1<<21:
		return 3
	default:
		return 4
	}
}

// appendVarInt appends v, which must be at most MaxVarInt, as a Variable
// Byte Integer.
func appendVarInt(dst []byte, v int) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v > 0 {
			c |= 0x80
		}
		dst = append(dst, c)
		if v == 0 {
			return dst
		}
	}
}

func appendU16(dst []byte, v uint16) []byte { return append(dst, byte(v>>8), byte(v)) }

func appendU32(dst []byte, v uint32) []byte {
	return append(dst, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// appendBinary appends a two-byte length and b; the caller has checked that
// len(b) fits in 16 bits.
func appendBinary(dst, b []byte) []byte {
	dst = appendU16(dst, uint16(len(b)))
	return append(dst, b...)
}

func appendString(dst []byte, s string) []byte {
	dst = appendU16(dst, uint16(len(s)))
	return append(dst, s...)
}

// checkLen16 reports ErrTooLarge when a string or binary field does not fit
// a two-byte length.
func checkLen16(field string, n int) error {
	if n > 0xffff {
		return wrap(ErrTooLarge, "%s: %d bytes", field, n)
	}
	return nil
}

// appendHeader appends a fixed header for a packet of type t with flags and
// a remaining length of rem bytes, growing dst once to fit the whole packet.
func appendHeader(dst []byte, t Type, flags byte, rem int) ([]byte, error) {
	if rem > MaxVarInt {
		return dst, wrap(ErrTooLarge, "%s remaining length %d", t, rem)
	}
	need := 1 + varIntLen(rem) + rem
	if cap(dst)-len(dst) < need {
		grown := make([]byte, len(dst), len(dst)+need)
		copy(grown, dst)
		dst = grown
	}
	dst = append(dst, byte(t)<<4|flags)
	return appendVarInt(dst, rem), nil
}
