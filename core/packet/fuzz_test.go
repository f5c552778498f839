package packet_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/mqttless/mqttless/core/packet"
)

// fzVersions are the protocol levels every decoding fuzz input is tried at.
var fzVersions = []packet.Version{packet.V31, packet.V311, packet.V5}

// fzSeeds returns every golden and malformed frame, each also cut at a few
// points as a partial read would leave it.
func fzSeeds() [][]byte {
	var whole [][]byte
	for _, c := range goldenCases {
		whole = append(whole, c.raw)
	}
	for _, c := range malformedCases {
		whole = append(whole, c.raw)
	}
	var seeds [][]byte
	for _, raw := range whole {
		seeds = append(seeds, raw)
		for _, n := range []int{1, 2, len(raw) / 2, len(raw) - 1} {
			if n > 0 && n < len(raw) {
				seeds = append(seeds, raw[:n])
			}
		}
	}
	return seeds
}

// fzStreams returns a few streams of several frames back to back: the
// golden frames of each level, and each golden frame followed by a cut one.
func fzStreams() [][]byte {
	var streams [][]byte
	for _, v := range fzVersions {
		var s []byte
		for _, c := range goldenCases {
			if c.version == v {
				s = append(s, c.raw...)
			}
		}
		streams = append(streams, s)
	}
	for i, c := range goldenCases {
		next := goldenCases[(i+1)%len(goldenCases)].raw
		streams = append(streams, goldenCat(c.raw, c.raw, next[:len(next)/2]))
	}
	return streams
}

// fzNormalize returns the packet that decoding the canonical encoding of p
// is expected to give, for the documented normalisations of Append:
//   - a CONNACK refusing the connection carries Session Present 0
//     ([MQTT-3.2.2-6], 3.1.1 [MQTT-3.2.2-4]), whatever the decoded value was.
//
// Everything else must come back exactly as it was decoded (3.1.1 acks,
// DISCONNECT and UNSUBACK decode only to values Append can write back).
func fzNormalize(p packet.Packet) packet.Packet {
	if c, ok := p.(*packet.Connack); ok && c.ReasonCode != packet.Success && c.SessionPresent {
		n := *c
		n.SessionPresent = false
		return &n
	}
	return p
}

// fzCheckError checks that a decoding error is one of the package's
// sentinels, so that ReasonCodeOf gives a meaningful code.
func fzCheckError(t *testing.T, what string, err error) {
	t.Helper()
	var e *packet.Error
	if !errors.As(err, &e) {
		t.Fatalf("%s: error %v (%T) is not a *packet.Error", what, err, err)
	}
	if !strings.HasPrefix(err.Error(), "packet: ") {
		t.Fatalf("%s: error %q lacks the \"packet: \" prefix", what, err)
	}
	if !e.Code.IsError() {
		t.Fatalf("%s: error %v carries the non-error code 0x%02X", what, err, byte(e.Code))
	}
}

// FuzzDecode decodes arbitrary frames at every level. Decoding must not
// panic nor touch the frame; an error must be a sentinel; a decoded packet
// must encode, and its encoding must decode to the same packet (modulo
// fzNormalize) and be canonical: encoding that again gives the same bytes.
func FuzzDecode(f *testing.F) {
	for _, s := range fzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		orig := bytes.Clone(data)
		for _, v := range fzVersions {
			p, err := packet.Decode(data, v)
			if !bytes.Equal(data, orig) {
				t.Fatalf("Decode at %v modified its frame", v)
			}
			if err != nil {
				fzCheckError(t, "Decode at "+v.String(), err)
				continue
			}
			if p == nil {
				t.Fatalf("Decode at %v: nil packet without an error", v)
			}
			// A decoded frame is exactly one frame.
			if frame, rest, err := packet.Split(data, 0); err != nil || len(frame) != len(data) || len(rest) != 0 {
				t.Fatalf("Decode at %v succeeded but Split gives frame %d bytes, rest %d, %v", v, len(frame), len(rest), err)
			}

			// A CONNECT carries its own level, which Decode ignores v for.
			ev := v
			if c, ok := p.(*packet.Connect); ok {
				ev = c.Version
			}
			enc, err := p.Append(nil, ev)
			if err != nil {
				t.Fatalf("Decode at %v gave %s, which Append refuses: %v", v, goldenDump(p), err)
			}
			q := packet.New(p.Type())
			if err := q.Decode(enc, ev); err != nil {
				t.Fatalf("at %v: % x decodes to %s, encoded as % x, which does not decode: %v",
					v, data, goldenDump(p), enc, err)
			}
			if want := fzNormalize(p); !reflect.DeepEqual(q, want) {
				t.Fatalf("at %v: % x decodes to\n  %s\nencoded as % x, which decodes to\n  %s",
					v, data, goldenDump(want), enc, goldenDump(q))
			}
			again, err := q.Append(nil, ev)
			if err != nil || !bytes.Equal(again, enc) {
				t.Fatalf("at %v: encoding is not canonical: % x then % x (%v)", v, enc, again, err)
			}
			if len(enc) > len(data) {
				t.Fatalf("at %v: the canonical form % x is longer than the input % x", v, enc, data)
			}
		}
	})
}

// fzChunkReader returns its data in chunks of random sizes from 1 to 16
// bytes, drawn from a generator seeded by the fuzzer.
type fzChunkReader struct {
	data []byte
	rng  *rand.Rand
}

func (r *fzChunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(r.data), 1+r.rng.IntN(16))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// fzReader wraps data in one of several readers chosen by seed: chunked,
// one byte at a time, chunked with data and io.EOF together, and buffered
// (an io.ByteReader, which FrameReader reads the fixed header through).
func fzReader(data []byte, seed byte) io.Reader {
	chunks := &fzChunkReader{data: data, rng: rand.New(rand.NewPCG(uint64(seed), 0x6d717474))}
	switch seed % 4 {
	case 1:
		return iotest.OneByteReader(chunks)
	case 2:
		return iotest.DataErrReader(chunks)
	case 3:
		return bufio.NewReaderSize(chunks, 16)
	}
	return chunks
}

// fzFrames cuts data into frames with Split, as FrameReader should, and
// returns the frames and the error that ends the stream, translated to what
// FrameReader reports: io.EOF after the last whole frame, io.ErrUnexpectedEOF
// for a cut frame, or the sentinel ErrVarInt or ErrPacketTooLarge.
func fzFrames(data []byte, maxSize int) ([][]byte, error) {
	var frames [][]byte
	for {
		if len(data) == 0 {
			return frames, io.EOF
		}
		frame, rest, err := packet.Split(data, maxSize)
		if errors.Is(err, packet.ErrTruncated) {
			return frames, io.ErrUnexpectedEOF
		}
		if errors.Is(err, packet.ErrVarInt) {
			return frames, packet.ErrVarInt
		}
		if errors.Is(err, packet.ErrPacketTooLarge) {
			return frames, packet.ErrPacketTooLarge
		}
		if err != nil {
			return frames, err
		}
		frames = append(frames, frame)
		data = rest
	}
}

// FuzzFrameReader reads a stream of frames through FrameReader over readers
// that return the data in random-sized pieces, and checks that the frames
// and the final error agree with Split over the whole stream.
func FuzzFrameReader(f *testing.F) {
	for _, s := range append(fzSeeds(), fzStreams()...) {
		for seed := range byte(4) {
			f.Add(s, seed, uint16(0))
		}
		f.Add(s, byte(len(s)), uint16(len(s)))
		f.Add(s, byte(7), uint16(len(s)/2))
	}
	f.Fuzz(func(t *testing.T, data []byte, seed byte, limit uint16) {
		// Without a limit a 5-byte header could make FrameReader allocate
		// 256 MB; keep the fuzzer's allocations small.
		maxSize := int(limit)
		if maxSize == 0 {
			maxSize = 1 << 16
		}
		want, wantErr := fzFrames(data, maxSize)

		fr := packet.NewFrameReader(fzReader(data, seed), maxSize)
		var buf []byte
		for i := 0; ; i++ {
			frame, err := fr.ReadFrame(buf)
			if err != nil {
				if i != len(want) {
					t.Fatalf("frame %d: %v, Split found %d frames", i, err, len(want))
				}
				if !errors.Is(err, wantErr) {
					t.Fatalf("after %d frames: %v, Split says %v", i, err, wantErr)
				}
				if len(frame) != 0 {
					t.Fatalf("error %v with a frame of %d bytes", err, len(frame))
				}
				if err != io.EOF && err != io.ErrUnexpectedEOF {
					fzCheckError(t, "ReadFrame", err)
				}
				return
			}
			if i >= len(want) {
				t.Fatalf("frame %d % x read, Split found %d frames then %v", i, frame, len(want), wantErr)
			}
			if !bytes.Equal(frame, want[i]) {
				t.Fatalf("frame %d: % x, Split gives % x", i, frame, want[i])
			}
			buf = frame // reuse the buffer, as a connection loop does
		}
	})
}

// FuzzSplit checks Split's contract on arbitrary input: a frame is a prefix
// of the input holding exactly its header and remaining length, within the
// limit, and does not depend on what follows it; failures are sentinels.
func FuzzSplit(f *testing.F) {
	for _, s := range append(fzSeeds(), fzStreams()...) {
		f.Add(s, uint16(0))
		f.Add(s, uint16(len(s)))
		f.Add(s, uint16(len(s)-1))
	}
	f.Fuzz(func(t *testing.T, data []byte, limit uint16) {
		maxSize := int(limit)
		frame, rest, err := packet.Split(data, maxSize)
		h, n, herr := packet.ParseFixedHeader(data)
		if err != nil {
			if !errors.Is(err, packet.ErrTruncated) && !errors.Is(err, packet.ErrVarInt) && !errors.Is(err, packet.ErrPacketTooLarge) {
				t.Fatalf("Split error %v", err)
			}
			fzCheckError(t, "Split", err)
			if frame != nil || !bytes.Equal(rest, data) {
				t.Fatalf("Split failed with %v but returned frame % x, rest of %d bytes", err, frame, len(rest))
			}
			switch {
			case herr != nil:
				if !errors.Is(err, herr) {
					t.Fatalf("Split: %v, ParseFixedHeader: %v", err, herr)
				}
			case errors.Is(err, packet.ErrPacketTooLarge):
				if maxSize <= 0 || n+h.Remaining <= maxSize {
					t.Fatalf("ErrPacketTooLarge for %d bytes with limit %d", n+h.Remaining, maxSize)
				}
			case errors.Is(err, packet.ErrTruncated):
				if len(data) >= n+h.Remaining {
					t.Fatalf("ErrTruncated with %d of %d bytes", len(data), n+h.Remaining)
				}
				// More data completes the frame (within the limit).
				if h.Remaining < 1<<16 {
					more := append(bytes.Clone(data), make([]byte, n+h.Remaining-len(data))...)
					if f2, _, err := packet.Split(more, maxSize); err != nil || len(f2) != n+h.Remaining {
						t.Fatalf("completed frame: %d bytes, %v", len(f2), err)
					}
				}
			default:
				t.Fatalf("Split: %v with a good header", err)
			}
			return
		}
		if herr != nil {
			t.Fatalf("Split succeeded, ParseFixedHeader: %v", herr)
		}
		if len(frame) != n+h.Remaining || len(frame)+len(rest) != len(data) {
			t.Fatalf("frame %d + rest %d bytes from %d; header %d + remaining %d",
				len(frame), len(rest), len(data), n, h.Remaining)
		}
		if cap(frame) != len(frame) {
			t.Fatalf("frame capacity %d past its length %d: appending would overwrite the rest", cap(frame), len(frame))
		}
		if maxSize > 0 && len(frame) > maxSize {
			t.Fatalf("frame of %d bytes over the limit %d", len(frame), maxSize)
		}
		if &frame[0] != &data[0] || (len(rest) > 0 && &rest[0] != &data[len(frame)]) {
			t.Fatalf("frame and rest do not alias the input")
		}
		if h.Type != packet.Type(data[0]>>4) || h.Flags != data[0]&0x0f {
			t.Fatalf("header %+v from first byte 0x%02x", h, data[0])
		}
		// The frame alone splits to itself, whatever followed it.
		f2, r2, err := packet.Split(frame, maxSize)
		if err != nil || !bytes.Equal(f2, frame) || len(r2) != 0 {
			t.Fatalf("Split(frame) = % x, % x, %v", f2, r2, err)
		}
		// A frame ends where its remaining length says; cutting it is a
		// truncation.
		if _, _, err := packet.Split(frame[:len(frame)-1], maxSize); !errors.Is(err, packet.ErrTruncated) {
			t.Fatalf("Split(frame minus a byte) = %v", err)
		}
	})
}
