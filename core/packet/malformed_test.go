package packet_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/packet/packettest"
)

// malformedCase is a frame that a server must refuse, the sentinel error
// expected and the reason code the server answers it with: a case of
// packettest.Malformed, the table the end-to-end suite also sends to a
// running broker (test/hostile_test.go), under the names this package's
// tests use.
type malformedCase struct {
	name    string
	spec    string // the statement of the specification exercised (5.0 unless marked 3.1.1)
	version packet.Version
	raw     []byte
	err     *packet.Error
	code    packet.ReasonCode
}

// malformedCases is the table of packettest.Malformed.
var malformedCases = func() []malformedCase {
	var cs []malformedCase
	for _, c := range packettest.Malformed() {
		cs = append(cs, malformedCase{c.Name, c.Spec, c.Version, c.Raw, c.Err, c.Code})
	}
	return cs
}()

func TestDecodeMalformed(t *testing.T) {
	if len(malformedCases) < 60 {
		t.Errorf("only %d malformed cases", len(malformedCases))
	}
	for _, c := range malformedCases {
		t.Run(c.name, func(t *testing.T) {
			if c.spec == "" {
				t.Errorf("no specification statement named")
			}
			if c.err.Code != c.code {
				t.Errorf("%v carries 0x%02X, the table expects 0x%02X", c.err, byte(c.err.Code), byte(c.code))
			}
			check := func(how string, err error) {
				t.Helper()
				if err == nil {
					t.Fatalf("%s(% x) at %v succeeded, want %v (%s)", how, c.raw, c.version, c.err, c.spec)
				}
				if !errors.Is(err, c.err) {
					t.Errorf("%s(% x) at %v = %v, want %v (%s)", how, c.raw, c.version, err, c.err, c.spec)
				}
				if got := packet.ReasonCodeOf(err); got != c.code {
					t.Errorf("%s: ReasonCodeOf(%v) = 0x%02X, want 0x%02X", how, err, byte(got), byte(c.code))
				}
				if !strings.HasPrefix(err.Error(), "packet: ") {
					t.Errorf("%s: error %q lacks the \"packet: \" prefix", how, err)
				}
			}
			_, err := packet.Decode(c.raw, c.version)
			check("Decode", err)

			// The typed decoder of the frame's own type agrees, also when
			// it reuses a value that holds an earlier packet.
			if len(c.raw) > 0 {
				if p := packet.New(packet.Type(c.raw[0] >> 4)); p != nil {
					check(p.Type().String()+".Decode", p.Decode(c.raw, c.version))
				}
			}
		})
	}
}

// TestDecodeWrongType hands each typed decoder a frame of another type.
func TestDecodeWrongType(t *testing.T) {
	pingreq := []byte{0xc0, 0x00}
	for typ := packet.CONNECT; typ <= packet.AUTH; typ++ {
		if typ == packet.PINGREQ {
			continue
		}
		err := packet.New(typ).Decode(pingreq, packet.V5)
		if !errors.Is(err, packet.ErrInvalidType) {
			t.Errorf("%v.Decode(PINGREQ) = %v, want ErrInvalidType", typ, err)
		}
	}
}

// TestMalformedTruncations cuts every golden frame short: whatever the cut,
// decoding must fail and say the frame is truncated (the fixed header's
// remaining length no longer matches).
func TestMalformedTruncations(t *testing.T) {
	for _, c := range goldenCases {
		if c.encodeOnly {
			continue
		}
		for n := 0; n < len(c.raw); n++ {
			_, err := packet.Decode(c.raw[:n], c.version)
			if !errors.Is(err, packet.ErrTruncated) {
				t.Errorf("%s cut to %d bytes: %v, want ErrTruncated", c.name, n, err)
			}
		}
		// One byte too many is a trailing byte.
		long := append(append([]byte(nil), c.raw...), 0)
		if _, err := packet.Decode(long, c.version); !errors.Is(err, packet.ErrTrailingBytes) {
			t.Errorf("%s plus a byte: %v, want ErrTrailingBytes", c.name, err)
		}
	}
}
