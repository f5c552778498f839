package packet_test

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/mqttless/mqttless/core/packet"
)

// goldenDump formats a packet for failure messages, following the will of
// a CONNECT, which %+v would print as an address.
func goldenDump(p packet.Packet) string {
	if p == nil {
		return "<nil>"
	}
	s := fmt.Sprintf("%T%+v", p, p)
	if c, ok := p.(*packet.Connect); ok && c.Will != nil {
		s += fmt.Sprintf(" will=%+v", *c.Will)
	}
	return s
}

// goldenDecode decodes raw into a fresh packet of the given type.
func goldenDecode(t packet.Type, raw []byte, v packet.Version) (packet.Packet, error) {
	p := packet.New(t)
	if p == nil {
		return nil, fmt.Errorf("packet.New(%v) = nil", t)
	}
	return p, p.Decode(raw, v)
}

func TestDecodeGolden(t *testing.T) {
	for _, c := range goldenCases {
		if c.encodeOnly {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			frame := bytes.Clone(c.raw)
			got, err := goldenDecode(c.pkt.Type(), frame, c.version)
			if err != nil {
				t.Fatalf("Decode(% x) = %v", c.raw, err)
			}
			if !reflect.DeepEqual(got, c.pkt) {
				t.Errorf("Decode(% x):\n got %s\nwant %s", c.raw, goldenDump(got), goldenDump(c.pkt))
			}
			if !bytes.Equal(frame, c.raw) {
				t.Errorf("Decode modified its frame: % x", frame)
			}

			// The package-level Decode dispatches to the same decoder.
			got, err = packet.Decode(c.raw, c.version)
			if err != nil {
				t.Fatalf("packet.Decode(% x) = %v", c.raw, err)
			}
			if !reflect.DeepEqual(got, c.pkt) {
				t.Errorf("packet.Decode(% x):\n got %s\nwant %s", c.raw, goldenDump(got), goldenDump(c.pkt))
			}
		})
	}
}

// TestDecodeReplaces decodes every golden case of a type and version into
// one reused value: Decode must replace all fields, leaving nothing of the
// previous packet behind.
func TestDecodeReplaces(t *testing.T) {
	type key struct {
		t packet.Type
		v packet.Version
	}
	reused := map[key]packet.Packet{}
	for range 2 { // twice, so that every case follows some other one
		for _, c := range goldenCases {
			if c.encodeOnly {
				continue
			}
			k := key{c.pkt.Type(), c.version}
			p := reused[k]
			if p == nil {
				p = packet.New(k.t)
				reused[k] = p
			}
			if err := p.Decode(c.raw, c.version); err != nil {
				t.Fatalf("%s: Decode = %v", c.name, err)
			}
			if !reflect.DeepEqual(p, c.pkt) {
				t.Errorf("%s: Decode into a reused value:\n got %s\nwant %s", c.name, goldenDump(p), goldenDump(c.pkt))
			}
		}
	}
}

func TestEncodeGolden(t *testing.T) {
	for _, c := range goldenCases {
		if c.decodeOnly {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			got, err := c.pkt.Append(nil, c.version)
			if err != nil {
				t.Fatalf("Append = %v", err)
			}
			if !bytes.Equal(got, c.raw) {
				t.Errorf("Append:\n got % x\nwant % x", got, c.raw)
			}

			// Append appends: what dst holds is kept.
			prefix := []byte("prefix")
			got, err = packet.Encode(bytes.Clone(prefix), c.pkt, c.version)
			if err != nil {
				t.Fatalf("Encode = %v", err)
			}
			if !bytes.HasPrefix(got, prefix) || !bytes.Equal(got[len(prefix):], c.raw) {
				t.Errorf("Encode after a prefix:\n got % x\nwant %q + % x", got, prefix, c.raw)
			}

			// With room to spare, Append writes in place.
			buf := make([]byte, 0, len(c.raw)+8)
			got, err = c.pkt.Append(buf, c.version)
			if err != nil {
				t.Fatalf("Append = %v", err)
			}
			if &got[0] != &buf[:1][0] {
				t.Errorf("Append reallocated a buffer with room for the packet")
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			// encode -> decode gives the packet back, except for the
			// encode-only cases, where the wire form loses something.
			enc, err := c.pkt.Append(nil, c.version)
			if err != nil {
				t.Fatalf("Append = %v", err)
			}
			dec, err := goldenDecode(c.pkt.Type(), enc, c.version)
			if err != nil {
				t.Fatalf("Decode(Append) = %v", err)
			}
			if c.encodeOnly {
				if reflect.DeepEqual(dec, c.pkt) {
					t.Errorf("marked encodeOnly, but the packet round-trips: drop the flag")
				}
			} else if !reflect.DeepEqual(dec, c.pkt) {
				t.Errorf("Decode(Append):\n got %s\nwant %s", goldenDump(dec), goldenDump(c.pkt))
			}

			// decode -> encode gives the same bytes, except for the
			// decode-only cases, where Append writes a shorter form that
			// decodes to the same packet.
			if c.encodeOnly {
				return
			}
			dec, err = goldenDecode(c.pkt.Type(), c.raw, c.version)
			if err != nil {
				t.Fatalf("Decode = %v", err)
			}
			re, err := dec.Append(nil, c.version)
			if err != nil {
				t.Fatalf("Append(Decode) = %v", err)
			}
			if c.decodeOnly {
				if bytes.Equal(re, c.raw) {
					t.Errorf("marked decodeOnly, but the bytes round-trip: drop the flag")
				}
				if len(re) > len(c.raw) {
					t.Errorf("the canonical form % x is longer than % x", re, c.raw)
				}
				again, err := goldenDecode(c.pkt.Type(), re, c.version)
				if err != nil {
					t.Fatalf("Decode(Append(Decode)) = %v", err)
				}
				if !reflect.DeepEqual(again, c.pkt) {
					t.Errorf("Decode(Append(Decode)):\n got %s\nwant %s", goldenDump(again), goldenDump(c.pkt))
				}
			} else if !bytes.Equal(re, c.raw) {
				t.Errorf("Append(Decode):\n got % x\nwant % x", re, c.raw)
			}
		})
	}
}

// TestGoldenCoverage keeps the golden table honest: every packet type at
// levels 4 and 5 (AUTH at 5 only) and a level-3 CONNECT, each decoded from
// its bytes at least once.
func TestGoldenCoverage(t *testing.T) {
	type key struct {
		t packet.Type
		v packet.Version
	}
	have := map[key]bool{}
	for _, c := range goldenCases {
		if c.pkt == nil || c.raw == nil {
			t.Errorf("%s: no packet or no bytes", c.name)
			continue
		}
		if c.decodeOnly && c.encodeOnly {
			t.Errorf("%s: both decodeOnly and encodeOnly", c.name)
		}
		if !c.encodeOnly {
			have[key{c.pkt.Type(), c.version}] = true
		}
		if got := packet.Type(c.raw[0] >> 4); got != c.pkt.Type() {
			t.Errorf("%s: raw is a %v, pkt a %v", c.name, got, c.pkt.Type())
		}
	}
	for typ := packet.CONNECT; typ <= packet.AUTH; typ++ {
		for _, v := range []packet.Version{packet.V311, packet.V5} {
			if typ == packet.AUTH && v != packet.V5 {
				continue
			}
			if !have[key{typ, v}] {
				t.Errorf("no golden %v at %v", typ, v)
			}
		}
	}
	if !have[key{packet.CONNECT, packet.V31}] {
		t.Errorf("no golden CONNECT at 3.1")
	}
}

func TestDecodeDispatch(t *testing.T) {
	tests := []struct {
		name    string
		version packet.Version
		raw     []byte
		want    packet.Packet // the concrete type expected; nil for none
		err     *packet.Error
	}{
		{"CONNECT", packet.V311, []byte{0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 0, 0, 0}, &packet.Connect{}, nil},
		// A CONNECT carries its own level: the version argument is ignored.
		{"CONNECT 5.0 read at 3.1.1", packet.V311, []byte{0x10, 0x0d, 0, 4, 'M', 'Q', 'T', 'T', 5, 2, 0, 0, 0, 0, 0}, &packet.Connect{}, nil},
		{"CONNECT 3.1.1 read at 5.0", packet.V5, []byte{0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 0, 0, 0}, &packet.Connect{}, nil},
		{"CONNACK", packet.V311, []byte{0x20, 0x02, 0, 0}, &packet.Connack{}, nil},
		{"PUBLISH", packet.V311, []byte{0x30, 0x03, 0, 1, 't'}, &packet.Publish{}, nil},
		{"PUBACK", packet.V311, []byte{0x40, 0x02, 0, 1}, &packet.Puback{}, nil},
		{"PUBREC", packet.V311, []byte{0x50, 0x02, 0, 1}, &packet.Pubrec{}, nil},
		{"PUBREL", packet.V311, []byte{0x62, 0x02, 0, 1}, &packet.Pubrel{}, nil},
		{"PUBCOMP", packet.V311, []byte{0x70, 0x02, 0, 1}, &packet.Pubcomp{}, nil},
		{"SUBSCRIBE", packet.V311, []byte{0x82, 0x06, 0, 1, 0, 1, 't', 0}, &packet.Subscribe{}, nil},
		{"SUBACK", packet.V311, []byte{0x90, 0x03, 0, 1, 0}, &packet.Suback{}, nil},
		{"UNSUBSCRIBE", packet.V311, []byte{0xa2, 0x05, 0, 1, 0, 1, 't'}, &packet.Unsubscribe{}, nil},
		{"UNSUBACK", packet.V311, []byte{0xb0, 0x02, 0, 1}, &packet.Unsuback{}, nil},
		{"PINGREQ", packet.V311, []byte{0xc0, 0x00}, &packet.Pingreq{}, nil},
		{"PINGRESP", packet.V311, []byte{0xd0, 0x00}, &packet.Pingresp{}, nil},
		{"DISCONNECT", packet.V311, []byte{0xe0, 0x00}, &packet.Disconnect{}, nil},
		{"AUTH", packet.V5, []byte{0xf0, 0x00}, &packet.Auth{}, nil},
		{"AUTH at 3.1.1", packet.V311, []byte{0xf0, 0x00}, &packet.Auth{}, packet.ErrInvalidType},
		{"type 0", packet.V5, []byte{0x00, 0x00}, nil, packet.ErrInvalidType},
		{"empty frame", packet.V5, []byte{}, nil, packet.ErrTruncated},
		{"nil frame", packet.V5, nil, nil, packet.ErrTruncated},
		{"PUBACK packet identifier 0: packet returned with the error", packet.V5, []byte{0x40, 0x02, 0, 0}, &packet.Puback{}, packet.ErrPacketIDZero},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := packet.Decode(tt.raw, tt.version)
			if tt.err == nil && err != nil {
				t.Fatalf("Decode(% x) = %v", tt.raw, err)
			}
			if tt.err != nil && !errors.Is(err, tt.err) {
				t.Fatalf("Decode(% x) error = %v, want %v", tt.raw, err, tt.err)
			}
			if tt.want == nil {
				if p != nil {
					t.Fatalf("Decode(% x) = %s, want no packet", tt.raw, goldenDump(p))
				}
				return
			}
			if reflect.TypeOf(p) != reflect.TypeOf(tt.want) {
				t.Fatalf("Decode(% x) = %T, want %T", tt.raw, p, tt.want)
			}
			if p.Type() != tt.want.Type() || p.Type() != packet.Type(tt.raw[0]>>4) {
				t.Errorf("Type() = %v, want %v", p.Type(), tt.want.Type())
			}
		})
	}

	// New covers exactly the 15 defined types.
	for i := 0; i < 256; i++ {
		p := packet.New(packet.Type(i))
		if (p != nil) != (i >= 1 && i <= 15) {
			t.Errorf("New(%d) = %v", i, p)
		}
		if p != nil && p.Type() != packet.Type(i) {
			t.Errorf("New(%d).Type() = %v", i, p.Type())
		}
	}
}

// TestConnectUnsupportedProtocol checks that a refused protocol name or level
// still leaves ProtocolName and Version set, for the CONNACK to answer with.
func TestConnectUnsupportedProtocol(t *testing.T) {
	var c packet.Connect
	err := c.Decode([]byte{0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'T', 6, 2, 0, 0, 0, 0}, packet.V5)
	if !errors.Is(err, packet.ErrProtocolVersion) || c.ProtocolName != "MQTT" || c.Version != 6 {
		t.Errorf("level 6: err %v, name %q, version %d", err, c.ProtocolName, c.Version)
	}
	err = c.Decode([]byte{0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'X', 4, 2, 0, 0, 0, 0}, packet.V5)
	if !errors.Is(err, packet.ErrProtocolName) || c.ProtocolName != "MQTX" || c.Version != 4 {
		t.Errorf("name MQTX: err %v, name %q, version %d", err, c.ProtocolName, c.Version)
	}
}

// TestDecodeAliasing pins the documented memory contract: strings are
// copied out of the frame, byte fields alias it.
func TestDecodeAliasing(t *testing.T) {
	frame := []byte{0x30, 0x05, 0x00, 0x01, 't', 'a', 'b'}
	var p packet.Publish
	if err := p.Decode(frame, packet.V311); err != nil {
		t.Fatal(err)
	}
	frame[4], frame[5] = 'X', 'Y'
	if p.Topic != "t" {
		t.Errorf("topic %q changed with the frame", p.Topic)
	}
	if string(p.Payload) != "Yb" {
		t.Errorf("payload %q does not alias the frame", p.Payload)
	}
	if cap(p.Payload) != len(p.Payload) {
		t.Errorf("payload has capacity %d past its length %d", cap(p.Payload), len(p.Payload))
	}
}

func TestCheckFromClient(t *testing.T) {
	ok := &packet.Publish{Topic: "t", Payload: []byte("é"),
		Properties: goldenProps(packet.Properties{PayloadFormat: 1}, packet.PropPayloadFormat)}
	if err := ok.CheckFromClient(); err != nil {
		t.Errorf("UTF-8 payload: %v", err)
	}
	bad := &packet.Publish{Topic: "t", Payload: []byte{0xff},
		Properties: goldenProps(packet.Properties{PayloadFormat: 1}, packet.PropPayloadFormat)}
	if err := bad.CheckFromClient(); !errors.Is(err, packet.ErrPayloadFormat) || packet.ReasonCodeOf(err) != packet.PayloadFormatInvalid {
		t.Errorf("non-UTF-8 payload: %v", err)
	}
	bytesOK := &packet.Publish{Topic: "t", Payload: []byte{0xff}}
	if err := bytesOK.CheckFromClient(); err != nil {
		t.Errorf("unspecified bytes: %v", err)
	}
	subID := &packet.Publish{Topic: "t", Properties: packet.Properties{SubscriptionIDs: []uint32{1}}}
	if err := subID.CheckFromClient(); !errors.Is(err, packet.ErrPropertyValue) || packet.ReasonCodeOf(err) != packet.ProtocolError {
		t.Errorf("subscription identifier from a client: %v", err) // [MQTT-3.3.4-6]
	}
}

func TestAppendErrors(t *testing.T) {
	long := strings.Repeat("x", 65536)
	tests := []struct {
		name    string
		version packet.Version
		pkt     packet.Packet
		err     *packet.Error
	}{
		{"AUTH at 3.1.1", packet.V311, &packet.Auth{}, packet.ErrVersion},
		{"unknown version 6", 6, &packet.Pingreq{}, packet.ErrVersion},
		{"unknown version 2", 2, &packet.Publish{Topic: "t"}, packet.ErrVersion},
		{"CONNECT password without username at 3.1.1", packet.V311,
			&packet.Connect{ClientID: "c", PasswordFlag: true}, packet.ErrPasswordWithoutUsername},
		{"CONNECT will QoS 3", packet.V311, &packet.Connect{Will: &packet.Will{QoS: 3, Topic: "t"}}, packet.ErrInvalidQoS},
		{"CONNECT client id too long", packet.V311, &packet.Connect{ClientID: long}, packet.ErrTooLarge},
		{"CONNECT Will Delay in CONNECT properties", packet.V5,
			&packet.Connect{Properties: goldenProps(packet.Properties{}, packet.PropWillDelay)}, packet.ErrPropertyNotAllowed},
		{"CONNACK reason code 0x01", packet.V5, &packet.Connack{ReasonCode: 0x01}, packet.ErrReasonCode},
		{"PUBLISH QoS 3", packet.V311, &packet.Publish{QoS: 3, Topic: "t", PacketID: 1}, packet.ErrInvalidQoS},
		{"PUBLISH dup at QoS 0", packet.V311, &packet.Publish{Dup: true, Topic: "t"}, packet.ErrDupWithQoS0},
		{"PUBLISH QoS 1 packet identifier 0", packet.V5, &packet.Publish{QoS: 1, Topic: "t"}, packet.ErrPacketIDZero},
		{"PUBLISH topic too long", packet.V311, &packet.Publish{Topic: long}, packet.ErrTooLarge},
		{"PUBLISH Session Expiry", packet.V5,
			&packet.Publish{Topic: "t", Properties: goldenProps(packet.Properties{}, packet.PropSessionExpiry)}, packet.ErrPropertyNotAllowed},
		{"PUBLISH subscription identifier 0", packet.V5,
			&packet.Publish{Topic: "t", Properties: packet.Properties{SubscriptionIDs: []uint32{0}}}, packet.ErrPropertyValue},
		{"PUBLISH content type too long", packet.V5,
			&packet.Publish{Topic: "t", Properties: goldenProps(packet.Properties{ContentType: long}, packet.PropContentType)}, packet.ErrTooLarge},
		{"PUBACK packet identifier 0", packet.V311, &packet.Puback{}, packet.ErrPacketIDZero},
		{"PUBREL reason code 0x10", packet.V5, &packet.Pubrel{PacketID: 1, ReasonCode: 0x10}, packet.ErrReasonCode},
		{"SUBSCRIBE packet identifier 0", packet.V311, &packet.Subscribe{Subscriptions: []packet.Subscription{{Filter: "t"}}}, packet.ErrPacketIDZero},
		{"SUBSCRIBE no filters", packet.V311, &packet.Subscribe{PacketID: 1}, packet.ErrNoTopicFilters},
		{"SUBSCRIBE 5.0 options at 3.1.1", packet.V311,
			&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "t", NoLocal: true}}}, packet.ErrVersion},
		{"SUBSCRIBE retain handling 3", packet.V5,
			&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "t", RetainHandling: 3}}}, packet.ErrRetainHandling},
		{"SUBSCRIBE two subscription identifiers", packet.V5,
			&packet.Subscribe{PacketID: 1, Properties: packet.Properties{SubscriptionIDs: []uint32{1, 2}},
				Subscriptions: []packet.Subscription{{Filter: "t"}}}, packet.ErrDuplicateProperty},
		{"SUBACK reason code 0x03", packet.V5, &packet.Suback{PacketID: 1, ReasonCodes: []packet.ReasonCode{3}}, packet.ErrReasonCode},
		{"UNSUBSCRIBE no filters", packet.V5, &packet.Unsubscribe{PacketID: 1}, packet.ErrNoTopicFilters},
		{"UNSUBACK reason code 0x01", packet.V5, &packet.Unsuback{PacketID: 1, ReasonCodes: []packet.ReasonCode{1}}, packet.ErrReasonCode},
		{"DISCONNECT reason code 0x01", packet.V5, &packet.Disconnect{ReasonCode: 0x01}, packet.ErrReasonCode},
		{"AUTH reason code 0x87", packet.V5, &packet.Auth{ReasonCode: packet.NotAuthorized}, packet.ErrReasonCode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte("dst")
			got, err := tt.pkt.Append(dst, tt.version)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Append error = %v, want %v", err, tt.err)
			}
			if !bytes.Equal(got, dst) {
				t.Errorf("Append returned % x on error, want dst unchanged", got)
			}
		})
	}
}

func TestReasonCodeOf(t *testing.T) {
	if got := packet.ReasonCodeOf(nil); got != packet.Success {
		t.Errorf("ReasonCodeOf(nil) = %v", got)
	}
	if got := packet.ReasonCodeOf(errors.New("x")); got != packet.UnspecifiedError {
		t.Errorf("ReasonCodeOf(foreign error) = %v", got)
	}
	wrapped := fmt.Errorf("conn 7: %w", fmt.Errorf("%w: detail", packet.ErrTopicAlias))
	if got := packet.ReasonCodeOf(wrapped); got != packet.TopicAliasInvalid {
		t.Errorf("ReasonCodeOf(wrapped ErrTopicAlias) = %v", got)
	}
}
