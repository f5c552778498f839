package packet_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"testing"
	"testing/iotest"

	"github.com/mqttless/mqttless/core/packet"
)

// frEncode encodes p at 5.0 or fails the test.
func frEncode(t testing.TB, p packet.Packet) []byte {
	t.Helper()
	b, err := p.Append(nil, packet.V5)
	if err != nil {
		t.Fatalf("Append(%T): %v", p, err)
	}
	return b
}

// frPublish returns a QoS 1 PUBLISH frame with an n-byte payload.
func frPublish(t testing.TB, n int) []byte {
	t.Helper()
	return frEncode(t, &packet.Publish{QoS: 1, PacketID: 1, Topic: "a/b", Payload: bytes.Repeat([]byte{0xA5}, n)})
}

// frFrames returns frames of every remaining-length size class, from an
// empty PINGREQ to a three-byte remaining length.
func frFrames(t testing.TB) [][]byte {
	t.Helper()
	sub := &packet.Subscribe{PacketID: 9, Subscriptions: []packet.Subscription{{Filter: "a/+", QoS: 1}}}
	return [][]byte{
		frEncode(t, &packet.Pingreq{}),
		frPublish(t, 0),
		frPublish(t, 100), // remaining length 108: one byte
		frPublish(t, 120), // 128: two bytes
		frEncode(t, sub),
		frPublish(t, 20_000), // three bytes
		frEncode(t, &packet.Connect{ClientID: "c", KeepAlive: 30}),
		frEncode(t, &packet.Disconnect{ReasonCode: packet.ServerShuttingDown}),
		frEncode(t, &packet.Pingresp{}),
	}
}

// frPlain hides every method but Read, so that FrameReader takes its
// io.ReadFull path for the fixed header.
type frPlain struct{ r io.Reader }

func (p *frPlain) Read(b []byte) (int, error) { return p.r.Read(b) }

// frReaders are the ways the tests feed a stream to a FrameReader.
var frReaders = []struct {
	name string
	wrap func([]byte) io.Reader
}{
	{"bytes.Reader", func(b []byte) io.Reader { return bytes.NewReader(b) }},
	{"plain", func(b []byte) io.Reader { return &frPlain{bytes.NewReader(b)} }},
	{"OneByteReader", func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) }},
	{"HalfReader", func(b []byte) io.Reader { return iotest.HalfReader(bytes.NewReader(b)) }},
	{"DataErrReader", func(b []byte) io.Reader { return iotest.DataErrReader(bytes.NewReader(b)) }},
	{"DataErrReader/OneByteReader", func(b []byte) io.Reader {
		return iotest.DataErrReader(iotest.OneByteReader(bytes.NewReader(b)))
	}},
	{"bufio.Reader", func(b []byte) io.Reader { return bufio.NewReaderSize(bytes.NewReader(b), 16) }},
}

func TestFrameReaderConsecutive(t *testing.T) {
	frames := frFrames(t)
	stream := bytes.Join(frames, nil)
	for _, rd := range frReaders {
		t.Run(rd.name, func(t *testing.T) {
			fr := packet.NewFrameReader(rd.wrap(stream), 1<<20)
			var buf []byte
			for i, want := range frames {
				got, err := fr.ReadFrame(buf)
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("frame %d: got % x, want % x", i, got, want)
				}
				if _, err := packet.Decode(got, packet.V5); err != nil {
					t.Errorf("frame %d does not decode: %v", i, err)
				}
				buf = got
			}
			for range 2 { // io.EOF between frames, and again after it
				if got, err := fr.ReadFrame(buf); err != io.EOF || len(got) != 0 {
					t.Fatalf("at the end: %d bytes, %v; want 0 bytes, io.EOF", len(got), err)
				}
			}
		})
	}
}

// TestFrameReaderTruncated cuts a stream at every byte: the whole frames
// before the cut come out, then io.EOF when the cut falls between frames
// and io.ErrUnexpectedEOF when it falls inside one, header or body.
func TestFrameReaderTruncated(t *testing.T) {
	frames := [][]byte{
		frEncode(t, &packet.Pingreq{}),
		frPublish(t, 130), // a two-byte remaining length
		frEncode(t, &packet.Puback{PacketID: 3, ReasonCode: packet.NoMatchingSubscribers}),
	}
	stream := bytes.Join(frames, nil)
	boundary := map[int]int{0: 0} // cut position -> whole frames before it
	for i, n := 0, 0; i < len(frames); i++ {
		n += len(frames[i])
		boundary[n] = i + 1
	}
	errBoom := errors.New("boom")
	for _, rd := range frReaders {
		t.Run(rd.name, func(t *testing.T) {
			for cut := 0; cut <= len(stream); cut++ {
				fr := packet.NewFrameReader(rd.wrap(stream[:cut]), 0)
				whole, atBoundary := boundary[cut]
				if !atBoundary {
					for n, k := range boundary {
						if n < cut && k > whole {
							whole = k
						}
					}
				}
				for i := range whole {
					if got, err := fr.ReadFrame(nil); err != nil || !bytes.Equal(got, frames[i]) {
						t.Fatalf("cut %d, frame %d: % x, %v", cut, i, got, err)
					}
				}
				want := io.ErrUnexpectedEOF
				if atBoundary {
					want = io.EOF
				}
				if _, err := fr.ReadFrame(nil); err != want {
					t.Fatalf("cut %d: %v, want %v", cut, err, want)
				}
				// Any other read error comes through as it is.
				fr.Reset(io.MultiReader(rd.wrap(stream[:cut]), iotest.ErrReader(errBoom)))
				for range whole {
					if _, err := fr.ReadFrame(nil); err != nil {
						t.Fatalf("cut %d with a failing reader: %v", cut, err)
					}
				}
				if _, err := fr.ReadFrame(nil); !errors.Is(err, errBoom) {
					t.Fatalf("cut %d with a failing reader: %v, want %v", cut, err, errBoom)
				}
			}
		})
	}
}

// TestFrameReaderLimit checks that a frame exactly at the limit passes and
// one byte over is refused, for sizes around each remaining-length width.
// The limit counts the fixed header.
func TestFrameReaderLimit(t *testing.T) {
	// Payloads for remaining lengths around each width: 127, 128, 16383, 16384.
	for _, payload := range []int{-1, 0, 119, 120, 16_375, 16_376, 70_000} {
		var frame []byte
		if payload < 0 {
			frame = frEncode(t, &packet.Pingreq{})
		} else {
			frame = frPublish(t, payload)
		}
		h, hlen, err := packet.ParseFixedHeader(frame)
		if err != nil || hlen+h.Remaining != len(frame) {
			t.Fatalf("ParseFixedHeader(% x...) = %+v, %d, %v", frame[:min(len(frame), 5)], h, hlen, err)
		}
		t.Run(fmt.Sprintf("size=%d", len(frame)), func(t *testing.T) {
			size := len(frame)
			r := bytes.NewReader(frame)
			fr := packet.NewFrameReader(r, size)
			if got, err := fr.ReadFrame(nil); err != nil || !bytes.Equal(got, frame) {
				t.Fatalf("at the limit: %v", err)
			}

			r.Reset(frame)
			fr = packet.NewFrameReader(r, size-1)
			got, err := fr.ReadFrame(make([]byte, 0, size))
			if !errors.Is(err, packet.ErrPacketTooLarge) || len(got) != 0 {
				t.Fatalf("one byte over: %d bytes, %v; want ErrPacketTooLarge", len(got), err)
			}
			if rc := packet.ReasonCodeOf(err); rc != packet.PacketTooLarge {
				t.Errorf("reason code %v, want %v", rc, packet.PacketTooLarge)
			}
			if r.Len() != h.Remaining {
				t.Errorf("the refused frame's body was read: %d of %d bytes left", r.Len(), h.Remaining)
			}

			// SetMaxSize and Reset: the limit moves, and survives a Reset.
			fr.SetMaxSize(size)
			r.Reset(frame)
			fr.Reset(r)
			if _, err := fr.ReadFrame(nil); err != nil {
				t.Errorf("after SetMaxSize(%d): %v", size, err)
			}
			for _, unlimited := range []int{0, -1} {
				r.Reset(frame)
				fr.SetMaxSize(unlimited)
				if _, err := fr.ReadFrame(nil); err != nil {
					t.Errorf("SetMaxSize(%d): %v", unlimited, err)
				}
			}

			// Split applies the same limit, even before the body has arrived.
			if f, rest, err := packet.Split(frame, size); err != nil || !bytes.Equal(f, frame) || len(rest) != 0 {
				t.Errorf("Split at the limit: %d, %d, %v", len(f), len(rest), err)
			}
			for _, b := range [][]byte{frame, frame[:hlen]} {
				if f, rest, err := packet.Split(b, size-1); !errors.Is(err, packet.ErrPacketTooLarge) ||
					f != nil || len(rest) != len(b) {
					t.Errorf("Split of %d bytes one over the limit: %d, %d, %v", len(b), len(f), len(rest), err)
				}
			}
		})
	}
}

// TestFrameReaderHugeClaim sends a fixed header claiming the largest
// remaining length there is, 268,435,455 bytes, to a reader limited to 1 MB:
// it must be refused from the header alone, without allocating the frame.
func TestFrameReaderHugeClaim(t *testing.T) {
	const limit = 1 << 20
	claim := []byte{0x30, 0xFF, 0xFF, 0xFF, 0x7F, 'b', 'o', 'd', 'y'}
	h, n, err := packet.ParseFixedHeader(claim)
	if err != nil || n != 5 || h.Remaining != packet.MaxVarInt {
		t.Fatalf("ParseFixedHeader = %+v, %d, %v; want remaining %d in 5 bytes", h, n, err, packet.MaxVarInt)
	}
	r := bytes.NewReader(claim)
	fr := packet.NewFrameReader(r, limit)
	read := func() {
		r.Reset(claim)
		fr.Reset(r)
		if _, err := fr.ReadFrame(nil); !errors.Is(err, packet.ErrPacketTooLarge) {
			t.Fatalf("ReadFrame: %v, want ErrPacketTooLarge", err)
		}
		if r.Len() != 4 {
			t.Fatalf("%d bytes of the body were read", 4-r.Len())
		}
	}
	read()

	const runs = 100
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range runs {
		read()
	}
	runtime.ReadMemStats(&after)
	if total := after.TotalAlloc - before.TotalAlloc; total > limit {
		t.Errorf("%d refusals allocated %d bytes in all; the claim was %d bytes each", runs, total, packet.MaxVarInt)
	} else {
		t.Logf("%d refusals allocated %d bytes in all", runs, total)
	}
	// Only the error is allocated. AllocsPerRun counts the process's
	// allocations, others' included (a CI run under -race and load saw 9):
	// the least of three measures is the refusal's own.
	allocs := testing.AllocsPerRun(runs, read)
	for range 2 {
		allocs = min(allocs, testing.AllocsPerRun(runs, read))
	}
	if allocs > 8 {
		t.Errorf("%v allocations per refusal", allocs)
	}

	// Split refuses the same header without looking for the body.
	if _, _, err := packet.Split(claim, limit); !errors.Is(err, packet.ErrPacketTooLarge) {
		t.Errorf("Split: %v, want ErrPacketTooLarge", err)
	}
}

func TestFrameReaderVarInt(t *testing.T) {
	for _, c := range []struct {
		in        []byte
		frame     error // FrameReader
		split     error // Split and ParseFixedHeader
		remaining int
	}{
		{[]byte{0x30, 0x80, 0x80, 0x80, 0x80, 0x01}, packet.ErrVarInt, packet.ErrVarInt, 0},
		{[]byte{0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F}, packet.ErrVarInt, packet.ErrVarInt, 0},
		{[]byte{0x30, 0x80, 0x80, 0x80, 0x80}, packet.ErrVarInt, packet.ErrVarInt, 0}, // the fifth byte is not even needed
		{[]byte{0x30, 0x80, 0x80, 0x80}, io.ErrUnexpectedEOF, packet.ErrTruncated, 0},
		{[]byte{0x30}, io.ErrUnexpectedEOF, packet.ErrTruncated, 0},
		{[]byte{0x30, 0x80, 0x80, 0x80, 0x01}, io.ErrUnexpectedEOF, packet.ErrTruncated, 1 << 21}, // four bytes: valid
	} {
		for _, rd := range frReaders {
			fr := packet.NewFrameReader(rd.wrap(c.in), 4<<20)
			if _, err := fr.ReadFrame(nil); !errors.Is(err, c.frame) {
				t.Errorf("%s: ReadFrame(% x): %v, want %v", rd.name, c.in, err, c.frame)
			}
		}
		if _, _, err := packet.Split(c.in, 0); !errors.Is(err, c.split) {
			t.Errorf("Split(% x): %v, want %v", c.in, err, c.split)
		}
		h, _, err := packet.ParseFixedHeader(c.in)
		if !errors.Is(err, c.split) && !(err == nil && c.split == packet.ErrTruncated) {
			t.Errorf("ParseFixedHeader(% x): %v, want %v", c.in, err, c.split)
		}
		if err == nil && h.Remaining != c.remaining {
			t.Errorf("ParseFixedHeader(% x): remaining %d, want %d", c.in, h.Remaining, c.remaining)
		}
		if errors.Is(c.split, packet.ErrVarInt) && packet.ReasonCodeOf(err) != packet.MalformedPacket {
			t.Errorf("ParseFixedHeader(% x): reason code %v", c.in, packet.ReasonCodeOf(err))
		}
	}
}

func TestSplit(t *testing.T) {
	frames := frFrames(t)
	stream := bytes.Join(frames, nil)
	rest := stream
	for i, want := range frames {
		var f []byte
		var err error
		f, rest, err = packet.Split(rest, 0)
		if err != nil || !bytes.Equal(f, want) {
			t.Fatalf("frame %d: % x, %v", i, f, err)
		}
		if cap(f) != len(f) {
			t.Errorf("frame %d: cap %d > len %d: appending to it would overwrite the next frame", i, cap(f), len(f))
		}
	}
	if len(rest) != 0 {
		t.Fatalf("%d bytes left over", len(rest))
	}
	if _, _, err := packet.Split(nil, 0); !errors.Is(err, packet.ErrTruncated) {
		t.Errorf("Split(nil): %v, want ErrTruncated", err)
	}
	// Every incomplete prefix of a frame asks for more.
	for _, want := range frames {
		for n := range len(want) {
			if f, r, err := packet.Split(want[:n], 0); !errors.Is(err, packet.ErrTruncated) || f != nil || len(r) != n {
				t.Fatalf("Split of %d bytes of % x: %d, %d, %v", n, want[:min(len(want), 8)], len(f), len(r), err)
			}
		}
	}
}

// TestFrameReaderBuffer checks that ReadFrame reads into the buffer it is
// given when the frame fits, and allocates a new one only when it does not.
func TestFrameReaderBuffer(t *testing.T) {
	small, big := frPublish(t, 10), frPublish(t, 5000)
	r := bytes.NewReader(bytes.Join([][]byte{small, big, small}, nil))
	fr := packet.NewFrameReader(r, 0)

	buf := make([]byte, 3, 1024) // a non-empty buf is read into from its start
	got, err := fr.ReadFrame(buf)
	if err != nil || !bytes.Equal(got, small) {
		t.Fatalf("first frame: %v", err)
	}
	if &got[0] != &buf[0] {
		t.Error("a frame that fits was not read into the buffer given")
	}

	got, err = fr.ReadFrame(buf)
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("second frame: %v", err)
	}
	if &got[0] == &buf[0] {
		t.Error("a frame larger than the buffer was read into it")
	}

	grown := got
	got, err = fr.ReadFrame(grown)
	if err != nil || !bytes.Equal(got, small) {
		t.Fatalf("third frame: %v", err)
	}
	if &got[0] != &grown[0] {
		t.Error("the grown buffer was not reused")
	}
	if got, err := fr.ReadFrame(grown); err != io.EOF || len(got) != 0 || cap(got) != cap(grown) {
		t.Errorf("at the end: len %d cap %d, %v; want the empty buffer and io.EOF", len(got), cap(got), err)
	}
}

// TestFrameReaderNoAllocs reads a stream of frames into a reused buffer and
// expects no allocation at all, through a bytes.Reader, a bufio.Reader and a
// reader that is neither.
func TestFrameReaderNoAllocs(t *testing.T) {
	var frames [][]byte
	for range 10 {
		frames = append(frames, frFrames(t)...)
	}
	stream := bytes.Join(frames, nil)
	src := bytes.NewReader(stream)
	buffered := bufio.NewReaderSize(src, 4096)
	plain := &frPlain{src}
	for _, c := range []struct {
		name  string
		reset func() io.Reader
	}{
		{"bytes.Reader", func() io.Reader { src.Reset(stream); return src }},
		{"bufio.Reader", func() io.Reader { src.Reset(stream); buffered.Reset(src); return buffered }},
		{"plain", func() io.Reader { src.Reset(stream); return plain }},
	} {
		fr := packet.NewFrameReader(nil, 1<<20)
		buf := make([]byte, 0, 32<<10)
		var n int
		allocs := testing.AllocsPerRun(50, func() {
			fr.Reset(c.reset())
			n = 0
			for {
				f, err := fr.ReadFrame(buf)
				if err == io.EOF {
					break
				}
				if err != nil {
					panic(err)
				}
				buf = f
				n++
			}
		})
		if n != len(frames) {
			t.Fatalf("%s: read %d frames, want %d", c.name, n, len(frames))
		}
		if allocs != 0 {
			t.Errorf("%s: %v allocations to read %d frames into a reused buffer, want 0", c.name, allocs, n)
		}
	}
}
