package packet

import (
	"errors"
	"io"
)

// FixedHeader is the first part of every packet (section 2.1.1).
type FixedHeader struct {
	Type      Type
	Flags     byte // the low nibble of the first byte
	Remaining int  // the remaining length: bytes after the fixed header
}

// requiredFlags gives the fixed flag nibble of each packet type other than
// PUBLISH [MQTT-2.1.3-1].
var requiredFlags = [16]byte{PUBREL: 0x02, SUBSCRIBE: 0x02, UNSUBSCRIBE: 0x02}

// ParseFixedHeader parses the fixed header at the start of b and returns it
// with its length in bytes. It returns ErrTruncated when b ends inside the
// header (read more and try again) and ErrVarInt for a remaining length
// longer than 4 bytes. It does not check the packet type or flags; Decode does.
func ParseFixedHeader(b []byte) (FixedHeader, int, error) {
	if len(b) == 0 {
		return FixedHeader{}, 0, ErrTruncated
	}
	rem, n, err := readVarInt(b[1:])
	if err != nil {
		return FixedHeader{}, 0, err
	}
	return FixedHeader{Type: Type(b[0] >> 4), Flags: b[0] & 0x0f, Remaining: int(rem)}, 1 + n, nil
}

// checkFlags validates the fixed header flags of every type but PUBLISH,
// and the packet type itself.
func (h FixedHeader) check(v Version) error {
	switch {
	case h.Type == 0:
		return wrap(ErrInvalidType, "type 0 is reserved") // section 2.1.2: reserved type
	case h.Type == AUTH && v != V5:
		return wrap(ErrInvalidType, "AUTH before MQTT 5.0") // 3.1.1 type 15 is reserved
	case h.Type == PUBLISH:
		return nil
	case h.Flags != requiredFlags[h.Type]:
		// [MQTT-2.1.3-1] [MQTT-3.6.1-1] [MQTT-3.8.1-1] [MQTT-3.10.1-1]
		return wrap(ErrReservedFlags, "%s flags 0x%X", h.Type, h.Flags)
	}
	return nil
}

// Split returns the first whole frame in b and the bytes after it. It returns
// ErrTruncated when b does not yet hold a whole frame, ErrVarInt for a bad
// remaining length, and ErrPacketTooLarge for a frame over maxSize bytes
// (maxSize <= 0 means no limit beyond the protocol's).
func Split(b []byte, maxSize int) (frame, rest []byte, err error) {
	h, n, err := ParseFixedHeader(b)
	if err != nil {
		return nil, b, err
	}
	size := n + h.Remaining
	if maxSize > 0 && size > maxSize {
		return nil, b, wrap(ErrPacketTooLarge, "%d bytes over a limit of %d", size, maxSize)
	}
	if len(b) < size {
		return nil, b, ErrTruncated
	}
	return b[:size:size], b[size:], nil
}

// FrameReader reads whole MQTT frames from an io.Reader without decoding
// their bodies. It reads the fixed header a byte at a time, so give it a
// buffered reader, or an io.ByteReader, when the source is a raw socket.
// A FrameReader is not safe for concurrent use.
type FrameReader struct {
	r       io.Reader
	br      io.ByteReader // r, when it is one
	maxSize int
	one     [1]byte
}

// NewFrameReader returns a FrameReader over r that refuses frames larger
// than maxSize bytes, fixed header included (maxSize <= 0: no limit beyond
// the protocol's 256 MB).
func NewFrameReader(r io.Reader, maxSize int) *FrameReader {
	fr := &FrameReader{maxSize: maxSize}
	fr.Reset(r)
	return fr
}

// Reset makes fr read from r, keeping its maximum size, so that a pooled
// FrameReader can serve another connection.
func (fr *FrameReader) Reset(r io.Reader) {
	fr.r = r
	fr.br, _ = r.(io.ByteReader)
}

// SetMaxSize changes the largest frame fr accepts.
func (fr *FrameReader) SetMaxSize(maxSize int) { fr.maxSize = maxSize }

func (fr *FrameReader) readByte() (byte, error) {
	if fr.br != nil {
		return fr.br.ReadByte()
	}
	if _, err := io.ReadFull(fr.r, fr.one[:]); err != nil {
		return 0, err
	}
	return fr.one[0], nil
}

// ReadFrame reads one frame into dst[:0], growing it only when the frame does
// not fit, and returns the frame (fixed header included). The size limit is
// checked from the remaining length before anything is allocated or read:
// a frame over the limit returns ErrPacketTooLarge with its body unread, and
// the stream can no longer be framed. It returns io.EOF when the stream ends
// cleanly between frames, io.ErrUnexpectedEOF when it ends inside one, and
// ErrVarInt for a remaining length longer than 4 bytes (section 1.5.5).
func (fr *FrameReader) ReadFrame(dst []byte) ([]byte, error) {
	first, err := fr.readByte()
	if err != nil {
		return dst[:0], err
	}
	var hdr [5]byte
	hdr[0] = first
	n := 1
	rem := 0
	for shift := 0; ; shift += 7 {
		if n == 5 {
			return dst[:0], ErrVarInt // section 1.5.5: at most four bytes
		}
		c, err := fr.readByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return dst[:0], err
		}
		hdr[n] = c
		n++
		rem |= int(c&0x7f) << shift
		if c&0x80 == 0 {
			break
		}
	}
	size := n + rem
	if fr.maxSize > 0 && size > fr.maxSize {
		return dst[:0], wrap(ErrPacketTooLarge, "%s of %d bytes over a limit of %d",
			Type(first>>4), size, fr.maxSize)
	}
	if cap(dst) < size {
		dst = make([]byte, size)
	}
	dst = dst[:size]
	copy(dst, hdr[:n])
	if _, err := io.ReadFull(fr.r, dst[n:]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return dst[:0], err
	}
	return dst, nil
}
