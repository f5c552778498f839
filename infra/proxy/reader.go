package proxy

import (
	"io"
	"sync"
)

// bigBufSize is the size of the pooled read buffers used while a
// connection is busy.
const bigBufSize = 16 << 10

var bigBufs = sync.Pool{New: func() any { b := make([]byte, bigBufSize); return &b }}

// connReader is a buffered reader built for connections that are idle most
// of the time. While idle it blocks reading into a small inline array, so an
// idle connection holds no read buffer; once data flows it borrows a pooled
// 16 KiB buffer and gives it back as soon as that is drained. It implements
// io.Reader and io.ByteReader for packet.FrameReader.
type connReader struct {
	src   io.Reader
	big   *[]byte // borrowed while busy, nil while idle
	buf   []byte  // the active buffer: small[:] or *big
	r, w  int
	small [64]byte
}

func (cr *connReader) buffered() int { return cr.w - cr.r }

// fill reads more data into an empty buffer. A read that fills the small
// buffer suggests more is waiting, so the next fill borrows a big buffer.
func (cr *connReader) fill() error {
	cr.prepare()
	n, err := cr.src.Read(cr.buf)
	cr.w = n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// prepare picks the buffer for the next read and empties it.
func (cr *connReader) prepare() {
	busy := cr.buf != nil && cr.w == len(cr.buf)
	if cr.big != nil && !busy {
		bigBufs.Put(cr.big)
		cr.big = nil
	}
	switch {
	case busy && cr.big == nil:
		cr.big = bigBufs.Get().(*[]byte)
		cr.buf = *cr.big
	case cr.big == nil:
		cr.buf = cr.small[:]
	}
	cr.r, cr.w = 0, 0
}

// ReadByte implements io.ByteReader.
func (cr *connReader) ReadByte() (byte, error) {
	if cr.r == cr.w {
		if err := cr.fill(); err != nil {
			return 0, err
		}
	}
	c := cr.buf[cr.r]
	cr.r++
	return c, nil
}

// Read implements io.Reader. Large reads with an empty buffer go straight
// to the source.
func (cr *connReader) Read(p []byte) (int, error) {
	if cr.r == cr.w {
		if len(p) >= bigBufSize/2 {
			return cr.src.Read(p)
		}
		if err := cr.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, cr.buf[cr.r:cr.w])
	cr.r += n
	return n, nil
}

// release gives back a borrowed buffer.
func (cr *connReader) release() {
	if cr.big != nil {
		bigBufs.Put(cr.big)
		cr.big = nil
	}
	cr.buf = nil
	cr.r, cr.w = 0, 0
}
