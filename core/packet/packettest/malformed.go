// Package packettest holds fixtures of the MQTT codec that tests in other
// packages share: the table of malformed frames that the codec's own tests
// decode (core/packet), and that the end-to-end suite sends to a running
// broker over TCP (test/hostile_test.go).
//
// It is an ordinary package so that tests of any package can import it; no
// production code does.
package packettest

import "github.com/mqttless/mqttless/core/packet"

// MalformedCase is a frame that a server must refuse, with the sentinel
// error that decoding it returns and the reason code the server answers it
// with (in a DISCONNECT, or in the CONNACK when the frame is a CONNECT).
type MalformedCase struct {
	// Name names the case, unique in the table.
	Name string
	// Spec is the statement of the specification exercised (5.0 unless
	// marked 3.1.1).
	Spec string
	// Version is the protocol level the frame is decoded at: the level of
	// the connection it arrives on, or of the CONNECT itself.
	Version packet.Version
	// Raw is the whole frame, fixed header included. Some frames are
	// deliberately not whole: their remaining length claims more, or fewer,
	// bytes than follow it.
	Raw []byte
	// Err is the sentinel error decoding Raw at Version returns.
	Err *packet.Error
	// Code is the reason code the server answers the frame with; it is the
	// code Err carries.
	Code packet.ReasonCode
}

// Malformed returns the table of malformed frames, grouped by what is wrong
// with them (fixed header, remaining length, UTF-8, properties, property
// values, packet identifiers, topic filters and names, CONNECT,
// subscription options, reason codes, bodies where none belong,
// truncations). Each call returns a fresh copy, which the caller may
// modify.
func Malformed() []MalformedCase {
	out := make([]MalformedCase, len(malformed))
	for i, c := range malformed {
		c.Raw = append([]byte{}, c.Raw...)
		out[i] = c
	}
	return out
}

// Reason codes, shorter.
const (
	mfMalformed = packet.MalformedPacket            // 0x81
	mfProtocol  = packet.ProtocolError              // 0x82
	mfVersion   = packet.UnsupportedProtocolVersion // 0x84
	mfTopicName = packet.TopicNameInvalid           // 0x90
	mfAlias     = packet.TopicAliasInvalid          // 0x94
)

var malformed = []MalformedCase{
	// ----------------------------------------------------- fixed header, type
	{"type 0", "2.1.2 type 0 is reserved", packet.V311,
		[]byte{0x00, 0x00}, packet.ErrInvalidType, mfMalformed},
	{"type 0 at 5.0", "2.1.2 type 0 is reserved", packet.V5,
		[]byte{0x0f, 0x02, 0x00, 0x01}, packet.ErrInvalidType, mfMalformed},
	{"AUTH at 3.1.1", "3.1.1 2.2.1: type 15 is reserved", packet.V311,
		[]byte{0xf0, 0x00}, packet.ErrInvalidType, mfMalformed},
	{"AUTH at 3.1", "3.1.1 2.2.1: type 15 is reserved", packet.V31,
		[]byte{0xf0, 0x01, 0x18}, packet.ErrInvalidType, mfMalformed},
	{"PUBREL flags 0000", "[MQTT-3.6.1-1]", packet.V311,
		[]byte{0x60, 0x02, 0x00, 0x01}, packet.ErrReservedFlags, mfMalformed},
	{"PUBREL flags 0011", "[MQTT-3.6.1-1]", packet.V5,
		[]byte{0x63, 0x02, 0x00, 0x01}, packet.ErrReservedFlags, mfMalformed},
	{"SUBSCRIBE flags 0000", "[MQTT-3.8.1-1]", packet.V311,
		[]byte{
			0x80, 0x06, // SUBSCRIBE with flags 0000
			0x00, 0x01, // packet identifier 1
			0x00, 0x01, 'a', 0x00, // "a" QoS 0
		}, packet.ErrReservedFlags, mfMalformed},
	{"SUBSCRIBE flags 1010", "[MQTT-3.8.1-1]", packet.V5,
		[]byte{
			0x8a, 0x07, // SUBSCRIBE with flags 1010
			0x00, 0x01, // packet identifier 1
			0x00,                  // property length 0
			0x00, 0x01, 'a', 0x00, // "a" QoS 0
		}, packet.ErrReservedFlags, mfMalformed},
	{"UNSUBSCRIBE flags 0000", "[MQTT-3.10.1-1]", packet.V311,
		[]byte{
			0xa0, 0x05, // UNSUBSCRIBE with flags 0000
			0x00, 0x01, // packet identifier 1
			0x00, 0x01, 'a', // "a"
		}, packet.ErrReservedFlags, mfMalformed},
	{"UNSUBSCRIBE flags 0011", "[MQTT-3.10.1-1]", packet.V5,
		[]byte{
			0xa3, 0x06, // UNSUBSCRIBE with flags 0011
			0x00, 0x01, // packet identifier 1
			0x00,            // property length 0
			0x00, 0x01, 'a', // "a"
		}, packet.ErrReservedFlags, mfMalformed},
	{"CONNECT flags 0010", "[MQTT-2.1.3-1]", packet.V311,
		[]byte{
			0x12, 0x0d, // CONNECT with flags 0010
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3c, // MQTT 4, clean, keep alive 60
			0x00, 0x01, 'c', // client identifier "c"
		}, packet.ErrReservedFlags, mfMalformed},
	{"CONNACK flags 0001", "[MQTT-2.1.3-1]", packet.V311,
		[]byte{0x21, 0x02, 0x00, 0x00}, packet.ErrReservedFlags, mfMalformed},
	{"PUBACK flags 0010", "[MQTT-2.1.3-1]", packet.V5,
		[]byte{0x42, 0x02, 0x00, 0x01}, packet.ErrReservedFlags, mfMalformed},
	{"SUBACK flags 0010", "[MQTT-2.1.3-1]", packet.V311,
		[]byte{0x92, 0x03, 0x00, 0x01, 0x00}, packet.ErrReservedFlags, mfMalformed},
	{"PINGREQ flags 0001", "[MQTT-2.1.3-1]", packet.V5,
		[]byte{0xc1, 0x00}, packet.ErrReservedFlags, mfMalformed},
	{"PINGRESP flags 1000", "[MQTT-2.1.3-1]", packet.V311,
		[]byte{0xd8, 0x00}, packet.ErrReservedFlags, mfMalformed},
	{"DISCONNECT flags 0001", "[MQTT-2.1.3-1]", packet.V5,
		[]byte{0xe1, 0x00}, packet.ErrReservedFlags, mfMalformed},
	{"AUTH flags 0010", "[MQTT-2.1.3-1]", packet.V5,
		[]byte{0xf2, 0x00}, packet.ErrReservedFlags, mfMalformed},
	{"PUBLISH QoS 3", "[MQTT-3.3.1-4]", packet.V311,
		[]byte{
			0x36, 0x05, // PUBLISH QoS 3
			0x00, 0x01, 'a', // topic "a"
			0x00, 0x01, // packet identifier 1
		}, packet.ErrInvalidQoS, mfMalformed},
	{"PUBLISH QoS 3 dup retain at 5.0", "[MQTT-3.3.1-4]", packet.V5,
		[]byte{
			0x3f, 0x06, // PUBLISH dup QoS 3 retain
			0x00, 0x01, 'a', // topic "a"
			0x00, 0x01, // packet identifier 1
			0x00, // property length 0
		}, packet.ErrInvalidQoS, mfMalformed},
	{"PUBLISH DUP at QoS 0", "[MQTT-3.3.1-2]", packet.V311,
		[]byte{0x38, 0x03, 0x00, 0x01, 'a'}, packet.ErrDupWithQoS0, mfMalformed},
	{"PUBLISH DUP at QoS 0 at 5.0", "[MQTT-3.3.1-2]", packet.V5,
		[]byte{0x39, 0x04, 0x00, 0x01, 'a', 0x00}, packet.ErrDupWithQoS0, mfMalformed},

	// ------------------------------------------------------- remaining length
	{"remaining length of 5 bytes", "1.5.5 at most four bytes", packet.V311,
		[]byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x00}, packet.ErrVarInt, mfMalformed},
	{"remaining length of 5 bytes, PINGREQ", "1.5.5 at most four bytes", packet.V5,
		[]byte{0xc0, 0x80, 0x80, 0x80, 0x80, 0x00}, packet.ErrVarInt, mfMalformed},
	{"remaining length 0 in two bytes", "[MQTT-1.5.5-1] shortest form", packet.V311,
		[]byte{0xc0, 0x80, 0x00}, packet.ErrVarInt, mfMalformed},
	{"remaining length 2 in four bytes", "[MQTT-1.5.5-1] shortest form", packet.V5,
		[]byte{0x40, 0x82, 0x80, 0x80, 0x00, 0x00, 0x01}, packet.ErrVarInt, mfMalformed},
	{"remaining length cut short", "2.1.4 Remaining Length", packet.V5,
		[]byte{0x30, 0x80}, packet.ErrTruncated, mfMalformed},
	{"fixed header of one byte", "2.1.1 Fixed Header", packet.V311,
		[]byte{0xc0}, packet.ErrTruncated, mfMalformed},
	{"empty frame", "2.1.1 Fixed Header", packet.V5,
		[]byte{}, packet.ErrTruncated, mfMalformed},
	{"remaining length longer than the frame", "2.1.4 Remaining Length", packet.V311,
		[]byte{0x40, 0x02, 0x00}, packet.ErrTruncated, mfMalformed},
	{"remaining length 268435455, frame short", "2.1.4 Remaining Length", packet.V5,
		[]byte{0x30, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x01, 'a', 0x00}, packet.ErrTruncated, mfMalformed},
	{"remaining length shorter than the frame", "2.1.4 Remaining Length", packet.V311,
		[]byte{0x40, 0x02, 0x00, 0x01, 0x00}, packet.ErrTrailingBytes, mfMalformed},
	{"PINGREQ frame longer than remaining length 0", "2.1.4 Remaining Length", packet.V5,
		[]byte{0xc0, 0x00, 0x00}, packet.ErrTrailingBytes, mfMalformed},

	// ------------------------------------------------------------------ UTF-8
	{"topic: invalid byte 0xFF", "[MQTT-1.5.4-1]", packet.V311,
		[]byte{0x30, 0x04, 0x00, 0x02, 'a', 0xff}, packet.ErrInvalidUTF8, mfMalformed},
	{"topic: U+0000", "[MQTT-1.5.4-2]", packet.V5,
		[]byte{0x30, 0x06, 0x00, 0x03, 'a', 0x00, 'b', 0x00}, packet.ErrInvalidUTF8, mfMalformed},
	{"topic: overlong '/' C0 AF", "[MQTT-1.5.4-1]", packet.V311,
		[]byte{0x30, 0x04, 0x00, 0x02, 0xc0, 0xaf}, packet.ErrInvalidUTF8, mfMalformed},
	{"topic: overlong U+0000 C0 80", "[MQTT-1.5.4-1] [MQTT-1.5.4-2]", packet.V311,
		[]byte{0x30, 0x04, 0x00, 0x02, 0xc0, 0x80}, packet.ErrInvalidUTF8, mfMalformed},
	{"topic: overlong three-byte E0 80 AF", "[MQTT-1.5.4-1]", packet.V5,
		[]byte{0x30, 0x06, 0x00, 0x03, 0xe0, 0x80, 0xaf, 0x00}, packet.ErrInvalidUTF8, mfMalformed},
	{"topic: encoded surrogate ED A0 80", "[MQTT-1.5.4-1] U+D800..U+DFFF", packet.V311,
		[]byte{0x30, 0x05, 0x00, 0x03, 0xed, 0xa0, 0x80}, packet.ErrInvalidUTF8, mfMalformed},
	{"topic: above U+10FFFF F4 90 80 80", "[MQTT-1.5.4-1]", packet.V5,
		[]byte{0x30, 0x07, 0x00, 0x04, 0xf4, 0x90, 0x80, 0x80, 0x00}, packet.ErrInvalidUTF8, mfMalformed},
	{"topic: cut-off sequence E2 82", "[MQTT-1.5.4-1]", packet.V311,
		[]byte{0x30, 0x05, 0x00, 0x03, 'a', 0xe2, 0x82}, packet.ErrInvalidUTF8, mfMalformed},
	{"protocol name: invalid UTF-8", "[MQTT-1.5.4-1]", packet.V311,
		[]byte{
			0x10, 0x0d, // CONNECT
			0x00, 0x04, 'M', 'Q', 0xff, 'T', // protocol name "MQ\xffT"
			0x04, 0x02, 0x00, 0x3c, // level 4, clean, keep alive 60
			0x00, 0x01, 'c', // client identifier "c"
		}, packet.ErrInvalidUTF8, mfMalformed},
	{"client id: invalid continuation C3 28", "[MQTT-1.5.4-1] [MQTT-3.1.3-4]", packet.V311,
		[]byte{
			0x10, 0x0f, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3c, // MQTT 4, clean, keep alive 60
			0x00, 0x03, 'c', 0xc3, 0x28, // client identifier
		}, packet.ErrInvalidUTF8, mfMalformed},
	{"client id: U+0000", "[MQTT-1.5.4-2] [MQTT-3.1.3-4]", packet.V5,
		[]byte{
			0x10, 0x0f, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x3c, // MQTT 5, clean, keep alive 60
			0x00,                  // property length 0
			0x00, 0x02, 'c', 0x00, // client identifier "c\x00"
		}, packet.ErrInvalidUTF8, mfMalformed},
	{"client id: encoded surrogate ED B0 80", "[MQTT-1.5.4-1] [MQTT-3.1.3-4]", packet.V311,
		[]byte{
			0x10, 0x0f, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3c, // MQTT 4, clean, keep alive 60
			0x00, 0x03, 0xed, 0xb0, 0x80, // client identifier U+DC00
		}, packet.ErrInvalidUTF8, mfMalformed},
	{"user name: invalid byte", "[MQTT-1.5.4-1] [MQTT-3.1.3-11]", packet.V311,
		[]byte{
			0x10, 0x10, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x82, 0x00, 0x3c, // MQTT 4, user name, clean
			0x00, 0x01, 'c', // client identifier "c"
			0x00, 0x01, 0xff, // user name "\xff"
		}, packet.ErrInvalidUTF8, mfMalformed},
	{"user name: U+0000", "[MQTT-1.5.4-2] [MQTT-3.1.3-11]", packet.V5,
		[]byte{
			0x10, 0x12, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x82, 0x00, 0x3c, // MQTT 5, user name, clean
			0x00,            // property length 0
			0x00, 0x01, 'c', // client identifier "c"
			0x00, 0x02, 'u', 0x00, // user name "u\x00"
		}, packet.ErrInvalidUTF8, mfMalformed},
	{"will topic: invalid byte 0x80", "[MQTT-1.5.4-1] [MQTT-3.1.3-11]", packet.V311,
		[]byte{
			0x10, 0x12, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x06, 0x00, 0x3c, // MQTT 4, will, clean
			0x00, 0x01, 'c', // client identifier "c"
			0x00, 0x01, 0x80, // will topic "\x80"
			0x00, 0x00, // will payload
		}, packet.ErrInvalidUTF8, mfMalformed},
	{"will topic: U+0000", "[MQTT-1.5.4-2] [MQTT-3.1.3-11]", packet.V5,
		[]byte{
			0x10, 0x16, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x06, 0x00, 0x3c, // MQTT 5, will, clean
			0x00,            // property length 0
			0x00, 0x01, 'c', // client identifier "c"
			0x00,                       // will property length 0
			0x00, 0x03, 'w', 0x00, 'x', // will topic "w\x00x"
			0x00, 0x00, // will payload
		}, packet.ErrInvalidUTF8, mfMalformed},
	{"user property name: invalid byte", "[MQTT-1.5.4-1] 1.5.7", packet.V5,
		[]byte{
			0x30, 0x0b, // PUBLISH QoS 0
			0x00, 0x01, 't', // topic "t"
			0x07,                                    // property length 7
			0x26, 0x00, 0x01, 0xfe, 0x00, 0x01, 'v', // user property "\xfe"="v"
		}, packet.ErrInvalidUTF8, mfMalformed},
	{"user property value: U+0000", "[MQTT-1.5.4-2] 1.5.7", packet.V5,
		[]byte{
			0x30, 0x0b, // PUBLISH QoS 0
			0x00, 0x01, 't', // topic "t"
			0x07,                                    // property length 7
			0x26, 0x00, 0x01, 'k', 0x00, 0x01, 0x00, // user property "k"="\x00"
		}, packet.ErrInvalidUTF8, mfMalformed},
	{"user property value in CONNECT: surrogate", "[MQTT-1.5.4-1] 1.5.7", packet.V5,
		[]byte{
			0x10, 0x17, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x3c, // MQTT 5, clean
			0x09,                                                // property length 9
			0x26, 0x00, 0x01, 'k', 0x00, 0x03, 0xed, 0xbf, 0xbf, // user property "k"=U+DFFF
			0x00, 0x01, 'c', // client identifier "c"
		}, packet.ErrInvalidUTF8, mfMalformed},
	{"reason string: invalid byte", "[MQTT-1.5.4-1] 3.4.2.2.2", packet.V5,
		[]byte{
			0x40, 0x08, // PUBACK
			0x00, 0x01, // packet identifier 1
			0x00,                   // success
			0x04,                   // property length 4
			0x1f, 0x00, 0x01, 0xff, // reason string "\xff"
		}, packet.ErrInvalidUTF8, mfMalformed},
	{"content type: invalid byte", "[MQTT-1.5.4-1] 3.3.2.3.9", packet.V5,
		[]byte{
			0x30, 0x08, // PUBLISH QoS 0
			0x00, 0x01, 't', // topic "t"
			0x04,                   // property length 4
			0x03, 0x00, 0x01, 0xff, // content type "\xff"
		}, packet.ErrInvalidUTF8, mfMalformed},
	{"SUBSCRIBE filter: invalid byte", "[MQTT-1.5.4-1] [MQTT-3.8.3-1]", packet.V311,
		[]byte{
			0x82, 0x06, // SUBSCRIBE
			0x00, 0x01, // packet identifier 1
			0x00, 0x01, 0xff, 0x00, // filter "\xff" QoS 0
		}, packet.ErrInvalidUTF8, mfMalformed},
	{"UNSUBSCRIBE filter: U+0000", "[MQTT-1.5.4-2] [MQTT-3.10.3-1]", packet.V5,
		[]byte{
			0xa2, 0x06, // UNSUBSCRIBE
			0x00, 0x01, // packet identifier 1
			0x00,             // property length 0
			0x00, 0x01, 0x00, // filter "\x00"
		}, packet.ErrInvalidUTF8, mfMalformed},

	// ------------------------------------------------------------- properties
	{"Session Expiry Interval twice", "3.1.2.11.2", packet.V5,
		[]byte{
			0x10, 0x18, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x3c, // MQTT 5, clean
			0x0a,                         // property length 10
			0x11, 0x00, 0x00, 0x00, 0x01, // session expiry interval 1
			0x11, 0x00, 0x00, 0x00, 0x02, // session expiry interval 2
			0x00, 0x01, 'c', // client identifier "c"
		}, packet.ErrDuplicateProperty, mfProtocol},
	{"Topic Alias twice", "3.3.2.3.4", packet.V5,
		[]byte{
			0x30, 0x0a, // PUBLISH QoS 0
			0x00, 0x01, 't', // topic "t"
			0x06,             // property length 6
			0x23, 0x00, 0x01, // topic alias 1
			0x23, 0x00, 0x02, // topic alias 2
		}, packet.ErrDuplicateProperty, mfProtocol},
	{"Payload Format Indicator twice", "3.3.2.3.2", packet.V5,
		[]byte{
			0x30, 0x08, // PUBLISH QoS 0
			0x00, 0x01, 't', // topic "t"
			0x04,       // property length 4
			0x01, 0x00, // payload format indicator 0
			0x01, 0x01, // payload format indicator 1
		}, packet.ErrDuplicateProperty, mfProtocol},
	{"Reason String twice", "3.4.2.2.2", packet.V5,
		[]byte{
			0x40, 0x0c, // PUBACK
			0x00, 0x01, // packet identifier 1
			0x10,                  // no matching subscribers
			0x08,                  // property length 8
			0x1f, 0x00, 0x01, 'a', // reason string "a"
			0x1f, 0x00, 0x01, 'b', // reason string "b"
		}, packet.ErrDuplicateProperty, mfProtocol},
	{"Subscription Identifier twice in SUBSCRIBE", "3.8.2.1.2", packet.V5,
		[]byte{
			0x82, 0x0b, // SUBSCRIBE
			0x00, 0x01, // packet identifier 1
			0x04,       // property length 4
			0x0b, 0x01, // subscription identifier 1
			0x0b, 0x02, // subscription identifier 2
			0x00, 0x01, 'a', 0x00, // "a" QoS 0
		}, packet.ErrDuplicateProperty, mfProtocol},
	{"Receive Maximum twice in CONNACK", "3.2.2.3.3", packet.V5,
		[]byte{
			0x20, 0x09, // CONNACK
			0x00, 0x00, // flags, success
			0x06,             // property length 6
			0x21, 0x00, 0x01, // receive maximum 1
			0x21, 0x00, 0x02, // receive maximum 2
		}, packet.ErrDuplicateProperty, mfProtocol},
	{"Content Type twice in will properties", "3.1.3.2.5", packet.V5,
		[]byte{
			0x10, 0x1c, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x06, 0x00, 0x3c, // MQTT 5, will, clean
			0x00,            // property length 0
			0x00, 0x01, 'c', // client identifier "c"
			0x08,                  // will property length 8
			0x03, 0x00, 0x01, 'a', // content type "a"
			0x03, 0x00, 0x01, 'b', // content type "b"
			0x00, 0x01, 'w', // will topic "w"
			0x00, 0x00, // will payload
		}, packet.ErrDuplicateProperty, mfProtocol},
	{"Authentication Method twice in AUTH", "3.15.2.2.2", packet.V5,
		[]byte{
			0xf0, 0x0a, // AUTH
			0x18,                  // continue authentication
			0x08,                  // property length 8
			0x15, 0x00, 0x01, 'a', // authentication method "a"
			0x15, 0x00, 0x01, 'b', // authentication method "b"
		}, packet.ErrDuplicateProperty, mfProtocol},
	{"Session Expiry Interval in PUBLISH", "2.2.2.2 identifier not valid for the packet", packet.V5,
		[]byte{
			0x30, 0x09, // PUBLISH QoS 0
			0x00, 0x01, 't', // topic "t"
			0x05,                         // property length 5
			0x11, 0x00, 0x00, 0x00, 0x01, // session expiry interval 1
		}, packet.ErrPropertyNotAllowed, mfMalformed},
	{"Will Delay Interval in CONNECT properties", "2.2.2.2 identifier not valid for the packet", packet.V5,
		[]byte{
			0x10, 0x13, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x3c, // MQTT 5, clean
			0x05,                         // property length 5
			0x18, 0x00, 0x00, 0x00, 0x01, // will delay interval 1
			0x00, 0x01, 'c', // client identifier "c"
		}, packet.ErrPropertyNotAllowed, mfMalformed},
	{"Topic Alias in will properties", "2.2.2.2 identifier not valid for the packet", packet.V5,
		[]byte{
			0x10, 0x17, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x06, 0x00, 0x3c, // MQTT 5, will, clean
			0x00,            // property length 0
			0x00, 0x01, 'c', // client identifier "c"
			0x03,             // will property length 3
			0x23, 0x00, 0x01, // topic alias 1
			0x00, 0x01, 'w', // will topic "w"
			0x00, 0x00, // will payload
		}, packet.ErrPropertyNotAllowed, mfMalformed},
	{"Subscription Identifier in UNSUBSCRIBE", "2.2.2.2 identifier not valid for the packet", packet.V5,
		[]byte{
			0xa2, 0x08, // UNSUBSCRIBE
			0x00, 0x01, // packet identifier 1
			0x02,       // property length 2
			0x0b, 0x01, // subscription identifier 1
			0x00, 0x01, 'a', // "a"
		}, packet.ErrPropertyNotAllowed, mfMalformed},
	{"Reason String in CONNECT", "2.2.2.2 identifier not valid for the packet", packet.V5,
		[]byte{
			0x10, 0x12, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x3c, // MQTT 5, clean
			0x04,                  // property length 4
			0x1f, 0x00, 0x01, 'r', // reason string "r"
			0x00, 0x01, 'c', // client identifier "c"
		}, packet.ErrPropertyNotAllowed, mfMalformed},
	{"unknown property 0x00", "2.2.2.2 identifier not valid for the packet", packet.V5,
		[]byte{
			0x30, 0x05, // PUBLISH QoS 0
			0x00, 0x01, 't', // topic "t"
			0x01, // property length 1
			0x00, // property 0x00
		}, packet.ErrPropertyNotAllowed, mfMalformed},
	{"unknown property 0x7F", "2.2.2.2 identifier not valid for the packet", packet.V5,
		[]byte{
			0xe0, 0x03, // DISCONNECT
			0x00, // normal disconnection
			0x01, // property length 1
			0x7f, // property 0x7F
		}, packet.ErrPropertyNotAllowed, mfMalformed},
	{"unknown property 128 (two-byte identifier)", "2.2.2.2 identifier not valid for the packet", packet.V5,
		[]byte{
			0x40, 0x06, // PUBACK
			0x00, 0x01, // packet identifier 1
			0x00,       // success
			0x02,       // property length 2
			0x80, 0x01, // property identifier 128
		}, packet.ErrPropertyNotAllowed, mfMalformed},
	{"property length exceeds the packet", "2.2.2.1 Property Length", packet.V5,
		[]byte{
			0x30, 0x05, // PUBLISH QoS 0
			0x00, 0x01, 't', // topic "t"
			0x0a, // property length 10, 0 bytes left
			0x01, // payload format indicator, cut off
		}, packet.ErrTruncated, mfMalformed},
	{"property value runs past the property length", "2.2.2.1 Property Length", packet.V5,
		[]byte{
			0x30, 0x08, // PUBLISH QoS 0
			0x00, 0x01, 't', // topic "t"
			0x02,       // property length 2
			0x02, 0x00, // message expiry interval, 1 of 4 bytes inside the properties
			0x00, 0x00, // payload
		}, packet.ErrTruncated, mfMalformed},
	{"property length of 5 bytes", "1.5.5 at most four bytes", packet.V5,
		[]byte{
			0x20, 0x07, // CONNACK
			0x00, 0x00, // flags, success
			0xff, 0xff, 0xff, 0xff, 0x7f, // property length
		}, packet.ErrVarInt, mfMalformed},
	{"property length 0 in two bytes", "[MQTT-1.5.5-1] shortest form", packet.V5,
		[]byte{
			0x30, 0x06, // PUBLISH QoS 0
			0x00, 0x01, 't', // topic "t"
			0x80, 0x00, // property length 0, in two bytes
			'p', // payload "p"
		}, packet.ErrVarInt, mfMalformed},
	{"property identifier 1 in two bytes", "[MQTT-1.5.5-1] shortest form", packet.V5,
		[]byte{
			0x30, 0x07, // PUBLISH QoS 0
			0x00, 0x01, 't', // topic "t"
			0x03,       // property length 3
			0x81, 0x00, // property identifier 1 (payload format indicator), in two bytes
			0x01, // value 1
		}, packet.ErrVarInt, mfMalformed},
	{"Subscription Identifier 1 in two bytes", "[MQTT-1.5.5-1] shortest form", packet.V5,
		[]byte{
			0x82, 0x0a, // SUBSCRIBE
			0x00, 0x01, // packet identifier 1
			0x03,             // property length 3
			0x0b, 0x81, 0x00, // subscription identifier 1, in two bytes
			0x00, 0x01, 'a', 0x00, // "a" QoS 0
		}, packet.ErrVarInt, mfMalformed},
	{"property length cut off", "2.2.2.1 Property Length", packet.V5,
		[]byte{
			0x90, 0x03, // SUBACK
			0x00, 0x01, // packet identifier 1
			0x80, // property length, continuation bit with no next byte
		}, packet.ErrTruncated, mfMalformed},
	{"Subscription Identifier of 5 bytes", "1.5.5 at most four bytes", packet.V5,
		[]byte{
			0x30, 0x09, // PUBLISH QoS 0
			0x00, 0x01, 't', // topic "t"
			0x05,                         // property length 5
			0x0b, 0xff, 0xff, 0xff, 0xff, // subscription identifier, too long
		}, packet.ErrVarInt, mfMalformed},
	{"user property without its value", "1.5.7 UTF-8 String Pair", packet.V5,
		[]byte{
			0x40, 0x08, // PUBACK
			0x00, 0x01, // packet identifier 1
			0x00,                  // success
			0x04,                  // property length 4
			0x26, 0x00, 0x01, 'k', // user property name "k", no value
		}, packet.ErrTruncated, mfMalformed},
	{"string property longer than the properties", "1.5.4 UTF-8 Encoded String", packet.V5,
		[]byte{
			0xf0, 0x05, // AUTH
			0x18,             // continue authentication
			0x03,             // property length 3
			0x15, 0x00, 0x05, // authentication method of 5 bytes, none there
		}, packet.ErrTruncated, mfMalformed},

	// --------------------------------------------------------- property values
	{"Receive Maximum 0 in CONNECT", "3.1.2.11.3", packet.V5,
		[]byte{
			0x10, 0x11, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x3c, // MQTT 5, clean
			0x03,             // property length 3
			0x21, 0x00, 0x00, // receive maximum 0
			0x00, 0x01, 'c', // client identifier "c"
		}, packet.ErrPropertyValue, mfProtocol},
	{"Receive Maximum 0 in CONNACK", "3.2.2.3.3", packet.V5,
		[]byte{
			0x20, 0x06, // CONNACK
			0x00, 0x00, // flags, success
			0x03,             // property length 3
			0x21, 0x00, 0x00, // receive maximum 0
		}, packet.ErrPropertyValue, mfProtocol},
	{"Maximum Packet Size 0", "3.1.2.11.4", packet.V5,
		[]byte{
			0x10, 0x13, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x3c, // MQTT 5, clean
			0x05,                         // property length 5
			0x27, 0x00, 0x00, 0x00, 0x00, // maximum packet size 0
			0x00, 0x01, 'c', // client identifier "c"
		}, packet.ErrPropertyValue, mfProtocol},
	{"Payload Format Indicator 2", "3.3.2.3.2", packet.V5,
		[]byte{
			0x30, 0x06, // PUBLISH QoS 0
			0x00, 0x01, 't', // topic "t"
			0x02,       // property length 2
			0x01, 0x02, // payload format indicator 2
		}, packet.ErrPropertyValue, mfProtocol},
	{"will Payload Format Indicator 2", "3.1.3.2.3", packet.V5,
		[]byte{
			0x10, 0x16, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x06, 0x00, 0x3c, // MQTT 5, will, clean
			0x00,            // property length 0
			0x00, 0x01, 'c', // client identifier "c"
			0x02,       // will property length 2
			0x01, 0x02, // payload format indicator 2
			0x00, 0x01, 'w', // will topic "w"
			0x00, 0x00, // will payload
		}, packet.ErrPropertyValue, mfProtocol},
	{"Authentication Data without Authentication Method", "3.1.2.11.10", packet.V5,
		[]byte{
			0x10, 0x12, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x3c, // MQTT 5, clean
			0x04,                  // property length 4
			0x16, 0x00, 0x01, 'd', // authentication data "d", no method
			0x00, 0x01, 'c', // client identifier "c"
		}, packet.ErrPropertyValue, mfProtocol},
	{"Request Problem Information 2", "3.1.2.11.7", packet.V5,
		[]byte{
			0x10, 0x10, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x3c, // MQTT 5, clean
			0x02,       // property length 2
			0x17, 0x02, // request problem information 2
			0x00, 0x01, 'c', // client identifier "c"
		}, packet.ErrPropertyValue, mfProtocol},
	{"Request Response Information 2", "3.1.2.11.6", packet.V5,
		[]byte{
			0x10, 0x10, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x3c, // MQTT 5, clean
			0x02,       // property length 2
			0x19, 0x02, // request response information 2
			0x00, 0x01, 'c', // client identifier "c"
		}, packet.ErrPropertyValue, mfProtocol},
	{"Maximum QoS 2", "3.2.2.3.4", packet.V5,
		[]byte{
			0x20, 0x05, // CONNACK
			0x00, 0x00, // flags, success
			0x02,       // property length 2
			0x24, 0x02, // maximum QoS 2
		}, packet.ErrPropertyValue, mfProtocol},
	{"Subscription Identifier 0 in SUBSCRIBE", "3.8.2.1.2", packet.V5,
		[]byte{
			0x82, 0x09, // SUBSCRIBE
			0x00, 0x01, // packet identifier 1
			0x02,       // property length 2
			0x0b, 0x00, // subscription identifier 0
			0x00, 0x01, 'a', 0x00, // "a" QoS 0
		}, packet.ErrPropertyValue, mfProtocol},
	{"Subscription Identifier 0 in PUBLISH", "3.3.2.3.8", packet.V5,
		[]byte{
			0x30, 0x06, // PUBLISH QoS 0
			0x00, 0x01, 't', // topic "t"
			0x02,       // property length 2
			0x0b, 0x00, // subscription identifier 0
		}, packet.ErrPropertyValue, mfProtocol},
	{"Response Topic with a wildcard", "[MQTT-3.3.2-14]", packet.V5,
		[]byte{
			0x30, 0x0a, // PUBLISH QoS 0
			0x00, 0x01, 't', // topic "t"
			0x06,                            // property length 6
			0x08, 0x00, 0x03, 'r', '/', '#', // response topic "r/#"
		}, packet.ErrPropertyValue, mfProtocol},

	// ------------------------------------------------------ packet identifiers
	{"PUBLISH QoS 1 packet identifier 0", "[MQTT-2.2.1-3]", packet.V311,
		[]byte{0x32, 0x05, 0x00, 0x01, 't', 0x00, 0x00}, packet.ErrPacketIDZero, mfProtocol},
	{"PUBLISH QoS 2 packet identifier 0", "[MQTT-2.2.1-3]", packet.V5,
		[]byte{0x34, 0x06, 0x00, 0x01, 't', 0x00, 0x00, 0x00}, packet.ErrPacketIDZero, mfProtocol},
	{"SUBSCRIBE packet identifier 0", "[MQTT-2.2.1-3]", packet.V311,
		[]byte{0x82, 0x06, 0x00, 0x00, 0x00, 0x01, 'a', 0x00}, packet.ErrPacketIDZero, mfProtocol},
	{"UNSUBSCRIBE packet identifier 0", "[MQTT-2.2.1-3]", packet.V5,
		[]byte{0xa2, 0x06, 0x00, 0x00, 0x00, 0x00, 0x01, 'a'}, packet.ErrPacketIDZero, mfProtocol},
	{"PUBACK packet identifier 0", "[MQTT-2.2.1-3]", packet.V311,
		[]byte{0x40, 0x02, 0x00, 0x00}, packet.ErrPacketIDZero, mfProtocol},
	{"PUBREC packet identifier 0", "[MQTT-2.2.1-3]", packet.V5,
		[]byte{0x50, 0x03, 0x00, 0x00, 0x80}, packet.ErrPacketIDZero, mfProtocol},
	{"PUBREL packet identifier 0", "[MQTT-2.2.1-3]", packet.V5,
		[]byte{0x62, 0x02, 0x00, 0x00}, packet.ErrPacketIDZero, mfProtocol},
	{"PUBCOMP packet identifier 0", "[MQTT-2.2.1-3]", packet.V311,
		[]byte{0x70, 0x02, 0x00, 0x00}, packet.ErrPacketIDZero, mfProtocol},

	// ---------------------------------------------------------- topic filters
	{"SUBSCRIBE without topic filters", "[MQTT-3.8.3-2] (3.1.1: [MQTT-3.8.3-3])", packet.V311,
		[]byte{0x82, 0x02, 0x00, 0x01}, packet.ErrNoTopicFilters, mfProtocol},
	{"SUBSCRIBE without topic filters at 5.0", "[MQTT-3.8.3-2]", packet.V5,
		[]byte{0x82, 0x03, 0x00, 0x01, 0x00}, packet.ErrNoTopicFilters, mfProtocol},
	{"UNSUBSCRIBE without topic filters", "[MQTT-3.10.3-2]", packet.V311,
		[]byte{0xa2, 0x02, 0x00, 0x01}, packet.ErrNoTopicFilters, mfProtocol},
	{"UNSUBSCRIBE without topic filters at 5.0", "[MQTT-3.10.3-2]", packet.V5,
		[]byte{0xa2, 0x03, 0x00, 0x01, 0x00}, packet.ErrNoTopicFilters, mfProtocol},
	{"UNSUBSCRIBE with properties only", "[MQTT-3.10.3-2]", packet.V5,
		[]byte{
			0xa2, 0x0a, // UNSUBSCRIBE
			0x00, 0x01, // packet identifier 1
			0x07,                                   // property length 7
			0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', // user property k=v
		}, packet.ErrNoTopicFilters, mfProtocol},

	// ------------------------------------------------------------ topic names
	{"PUBLISH topic with '+'", "[MQTT-3.3.2-2]", packet.V311,
		[]byte{0x30, 0x05, 0x00, 0x03, 'a', '/', '+'}, packet.ErrTopicName, mfTopicName},
	{"PUBLISH topic with '#'", "[MQTT-3.3.2-2]", packet.V5,
		[]byte{0x30, 0x06, 0x00, 0x03, 'a', '/', '#', 0x00}, packet.ErrTopicName, mfTopicName},
	{"PUBLISH topic with '+' inside a level", "[MQTT-3.3.2-2]", packet.V311,
		[]byte{0x30, 0x05, 0x00, 0x03, 'a', '+', 'b'}, packet.ErrTopicName, mfTopicName},
	{"PUBLISH empty topic at 3.1.1", "3.1.1 [MQTT-4.7.3-1]", packet.V311,
		[]byte{0x30, 0x03, 0x00, 0x00, 'p'}, packet.ErrTopicName, mfTopicName},
	{"PUBLISH empty topic, no Topic Alias", "3.3.2.3.4", packet.V5,
		[]byte{0x30, 0x03, 0x00, 0x00, 0x00}, packet.ErrNoTopic, mfProtocol},
	{"PUBLISH empty topic, other properties but no Topic Alias", "3.3.2.3.4", packet.V5,
		[]byte{
			0x30, 0x05, // PUBLISH QoS 0
			0x00, 0x00, // topic ""
			0x02,       // property length 2
			0x01, 0x00, // payload format indicator 0
		}, packet.ErrNoTopic, mfProtocol},
	{"Topic Alias 0", "[MQTT-3.3.2-8]", packet.V5,
		[]byte{
			0x30, 0x07, // PUBLISH QoS 0
			0x00, 0x01, 't', // topic "t"
			0x03,             // property length 3
			0x23, 0x00, 0x00, // topic alias 0
		}, packet.ErrTopicAlias, mfAlias},

	// ---------------------------------------------------------------- CONNECT
	{"will flag without will topic", "[MQTT-3.1.2-9]", packet.V311,
		[]byte{
			0x10, 0x0d, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x06, 0x00, 0x3c, // MQTT 4, will, clean
			0x00, 0x01, 'c', // client identifier "c", then nothing
		}, packet.ErrTruncated, mfMalformed},
	{"will topic without will payload", "[MQTT-3.1.2-9]", packet.V311,
		[]byte{
			0x10, 0x10, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x06, 0x00, 0x3c, // MQTT 4, will, clean
			0x00, 0x01, 'c', // client identifier "c"
			0x00, 0x01, 'w', // will topic "w", then nothing
		}, packet.ErrTruncated, mfMalformed},
	{"will flag, will properties cut off", "[MQTT-3.1.2-9]", packet.V5,
		[]byte{
			0x10, 0x0e, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x06, 0x00, 0x3c, // MQTT 5, will, clean
			0x00,            // property length 0
			0x00, 0x01, 'c', // client identifier "c", then nothing
		}, packet.ErrTruncated, mfMalformed},
	{"will QoS 3", "[MQTT-3.1.2-12]", packet.V311,
		[]byte{
			0x10, 0x12, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x1e, 0x00, 0x3c, // MQTT 4, will QoS 3, will, clean
			0x00, 0x01, 'c', // client identifier "c"
			0x00, 0x01, 'w', // will topic "w"
			0x00, 0x00, // will payload
		}, packet.ErrInvalidQoS, mfMalformed},
	{"will QoS 1 without will flag", "[MQTT-3.1.2-11]", packet.V311,
		[]byte{
			0x10, 0x0d, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x0a, 0x00, 0x3c, // MQTT 4, will QoS 1, clean
			0x00, 0x01, 'c', // client identifier "c"
		}, packet.ErrConnectFlags, mfMalformed},
	{"will retain without will flag", "[MQTT-3.1.2-13]", packet.V5,
		[]byte{
			0x10, 0x0e, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x22, 0x00, 0x3c, // MQTT 5, will retain, clean
			0x00,            // property length 0
			0x00, 0x01, 'c', // client identifier "c"
		}, packet.ErrConnectFlags, mfMalformed},
	{"CONNECT reserved flag", "[MQTT-3.1.2-3]", packet.V311,
		[]byte{
			0x10, 0x0d, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x03, 0x00, 0x3c, // MQTT 4, clean, reserved
			0x00, 0x01, 'c', // client identifier "c"
		}, packet.ErrConnectFlags, mfMalformed},
	{"CONNECT reserved flag at 5.0", "[MQTT-3.1.2-3]", packet.V5,
		[]byte{
			0x10, 0x0e, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x01, 0x00, 0x3c, // MQTT 5, reserved
			0x00,            // property length 0
			0x00, 0x01, 'c', // client identifier "c"
		}, packet.ErrConnectFlags, mfMalformed},
	{"password without user name at 3.1.1", "3.1.1 [MQTT-3.1.2-22]", packet.V311,
		[]byte{
			0x10, 0x10, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x42, 0x00, 0x3c, // MQTT 4, password, clean
			0x00, 0x01, 'c', // client identifier "c"
			0x00, 0x01, 'p', // password "p"
		}, packet.ErrPasswordWithoutUsername, mfMalformed},
	{"password without user name at 3.1", "3.1.1 [MQTT-3.1.2-22]", packet.V31,
		[]byte{
			0x10, 0x12, // CONNECT
			0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', 0x03, 0x42, 0x00, 0x3c, // MQIsdp 3, password, clean
			0x00, 0x01, 'c', // client identifier "c"
			0x00, 0x01, 'p', // password "p"
		}, packet.ErrPasswordWithoutUsername, mfMalformed},
	{"protocol name MQTX", "[MQTT-3.1.2-1]", packet.V311,
		[]byte{
			0x10, 0x0d, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'X', 0x04, 0x02, 0x00, 0x3c, // "MQTX" 4, clean
			0x00, 0x01, 'c', // client identifier "c"
		}, packet.ErrProtocolName, mfVersion},
	{"protocol name in lower case", "[MQTT-3.1.2-1]", packet.V5,
		[]byte{
			0x10, 0x0e, // CONNECT
			0x00, 0x04, 'm', 'q', 't', 't', 0x05, 0x02, 0x00, 0x3c, // "mqtt" 5, clean
			0x00,            // property length 0
			0x00, 0x01, 'c', // client identifier "c"
		}, packet.ErrProtocolName, mfVersion},
	{"protocol level 6", "[MQTT-3.1.2-2]", packet.V5,
		[]byte{
			0x10, 0x0e, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x06, 0x02, 0x00, 0x3c, // MQTT level 6
			0x00,            // property length 0
			0x00, 0x01, 'c', // client identifier "c"
		}, packet.ErrProtocolVersion, mfVersion},
	{"MQTT with protocol level 3", "[MQTT-3.1.2-2]", packet.V311,
		[]byte{
			0x10, 0x0d, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x03, 0x02, 0x00, 0x3c, // MQTT level 3
			0x00, 0x01, 'c', // client identifier "c"
		}, packet.ErrProtocolVersion, mfVersion},
	{"MQIsdp with protocol level 4", "[MQTT-3.1.2-2]", packet.V311,
		[]byte{
			0x10, 0x0f, // CONNECT
			0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', 0x04, 0x02, 0x00, 0x3c, // MQIsdp level 4
			0x00, 0x01, 'c', // client identifier "c"
		}, packet.ErrProtocolVersion, mfVersion},
	{"will topic with a wildcard", "[MQTT-3.1.2-9] [MQTT-3.3.2-2]", packet.V311,
		[]byte{
			0x10, 0x14, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x06, 0x00, 0x3c, // MQTT 4, will, clean
			0x00, 0x01, 'c', // client identifier "c"
			0x00, 0x03, 'w', '/', '#', // will topic "w/#"
			0x00, 0x00, // will payload
		}, packet.ErrTopicName, mfTopicName},
	{"empty will topic", "[MQTT-4.7.3-1]", packet.V311,
		[]byte{
			0x10, 0x11, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x06, 0x00, 0x3c, // MQTT 4, will, clean
			0x00, 0x01, 'c', // client identifier "c"
			0x00, 0x00, // will topic ""
			0x00, 0x00, // will payload
		}, packet.ErrTopicName, mfTopicName},
	{"CONNECT cut off inside the protocol name", "3.1.2.1", packet.V311,
		[]byte{0x10, 0x04, 0x00, 0x04, 'M', 'Q'}, packet.ErrTruncated, mfMalformed},
	{"CONNECT cut off before keep alive", "3.1.2.10", packet.V311,
		[]byte{0x10, 0x08, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02}, packet.ErrTruncated, mfMalformed},
	{"CONNECT cut off inside the client id length", "3.1.3.1", packet.V311,
		[]byte{
			0x10, 0x0b, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3c, // MQTT 4, clean
			0x00, // half a client identifier length
		}, packet.ErrTruncated, mfMalformed},
	{"CONNECT user name cut off", "3.1.3.5", packet.V311,
		[]byte{
			0x10, 0x10, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x82, 0x00, 0x3c, // MQTT 4, user name, clean
			0x00, 0x01, 'c', // client identifier "c"
			0x00, 0x05, 'u', // user name of 5 bytes, 1 there
		}, packet.ErrTruncated, mfMalformed},
	{"CONNECT password cut off", "3.1.3.6", packet.V311,
		[]byte{
			0x10, 0x13, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0xc2, 0x00, 0x3c, // MQTT 4, user name, password, clean
			0x00, 0x01, 'c', // client identifier "c"
			0x00, 0x01, 'u', // user name "u"
			0x00, 0x04, 'p', // password of 4 bytes, 1 there
		}, packet.ErrTruncated, mfMalformed},
	{"CONNECT properties cut off", "3.1.2.11.1", packet.V5,
		[]byte{
			0x10, 0x0d, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x3c, // MQTT 5, clean
			0x05,       // property length 5, 2 bytes there
			0x11, 0x00, // session expiry interval, cut off
		}, packet.ErrTruncated, mfMalformed},
	{"CONNECT with a byte after the last field", "2.1.4 Remaining Length", packet.V311,
		[]byte{
			0x10, 0x0e, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3c, // MQTT 4, clean
			0x00, 0x01, 'c', // client identifier "c"
			0x00, // trailing byte
		}, packet.ErrTrailingBytes, mfMalformed},

	// ----------------------------------------------------- subscription options
	{"No Local bit at 3.1.1", "3.1.1 [MQTT-3.8.3-4]", packet.V311,
		[]byte{0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x04}, packet.ErrSubscriptionOptions, mfMalformed},
	{"options bit 7 at 3.1.1", "3.1.1 [MQTT-3.8.3-4]", packet.V311,
		[]byte{0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x81}, packet.ErrSubscriptionOptions, mfMalformed},
	{"subscription QoS 3 at 3.1.1", "3.1.1 [MQTT-3.8.3-4]", packet.V311,
		[]byte{0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x03}, packet.ErrInvalidQoS, mfMalformed},
	{"options bit 6 at 5.0", "[MQTT-3.8.3-5]", packet.V5,
		[]byte{0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x40}, packet.ErrSubscriptionOptions, mfMalformed},
	{"options bit 7 at 5.0", "[MQTT-3.8.3-5]", packet.V5,
		[]byte{0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x81}, packet.ErrSubscriptionOptions, mfMalformed},
	{"subscription QoS 3 at 5.0", "3.8.3.1 Maximum QoS", packet.V5,
		[]byte{0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x03}, packet.ErrSubscriptionQoS, mfProtocol},
	{"Retain Handling 3", "3.8.3.1 Retain Handling", packet.V5,
		[]byte{0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x30}, packet.ErrRetainHandling, mfProtocol},
	{"No Local on a shared subscription", "[MQTT-3.8.3-4]", packet.V5,
		[]byte{
			0x82, 0x10, // SUBSCRIBE
			0x00, 0x01, // packet identifier 1
			0x00,                                                         // property length 0
			0x00, 0x0a, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', 't', // "$share/g/t"
			0x04, // No Local
		}, packet.ErrSharedNoLocal, mfProtocol},
	{"second subscription bad, after a good one", "[MQTT-3.8.3-5]", packet.V5,
		[]byte{
			0x82, 0x0b, // SUBSCRIBE
			0x00, 0x01, // packet identifier 1
			0x00,                  // property length 0
			0x00, 0x01, 'a', 0x01, // "a" QoS 1
			0x00, 0x01, 'b', 0xc0, // "b" reserved bits
		}, packet.ErrSubscriptionOptions, mfMalformed},
	{"SUBSCRIBE filter without options", "3.8.3.1", packet.V311,
		[]byte{0x82, 0x05, 0x00, 0x01, 0x00, 0x01, 'a'}, packet.ErrTruncated, mfMalformed},
	{"SUBSCRIBE with one stray byte after a subscription", "3.8.3", packet.V5,
		[]byte{0x82, 0x08, 0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x00, 0x00}, packet.ErrTruncated, mfMalformed},
	{"UNSUBSCRIBE with one stray byte after a filter", "3.10.3", packet.V311,
		[]byte{0xa2, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x00}, packet.ErrTruncated, mfMalformed},

	// ----------------------------------------------------------- reason codes
	{"PUBACK reason code 0x01", "3.4.2.1", packet.V5,
		[]byte{0x40, 0x03, 0x00, 0x01, 0x01}, packet.ErrReasonCode, mfProtocol},
	{"PUBREC reason code 0x92", "3.5.2.1", packet.V5,
		[]byte{0x50, 0x03, 0x00, 0x01, 0x92}, packet.ErrReasonCode, mfProtocol},
	{"PUBREL reason code 0x10", "3.6.2.1", packet.V5,
		[]byte{0x62, 0x03, 0x00, 0x01, 0x10}, packet.ErrReasonCode, mfProtocol},
	{"PUBCOMP reason code 0x80", "3.7.2.1", packet.V5,
		[]byte{0x70, 0x03, 0x00, 0x01, 0x80}, packet.ErrReasonCode, mfProtocol},
	{"DISCONNECT reason code 0x01", "3.14.2.1", packet.V5,
		[]byte{0xe0, 0x01, 0x01}, packet.ErrReasonCode, mfProtocol},
	{"DISCONNECT reason code 0x84", "3.14.2.1", packet.V5,
		[]byte{0xe0, 0x02, 0x84, 0x00}, packet.ErrReasonCode, mfProtocol},
	{"AUTH reason code 0x01", "3.15.2.1", packet.V5,
		[]byte{0xf0, 0x01, 0x01}, packet.ErrReasonCode, mfProtocol},
	{"AUTH reason code 0x87", "3.15.2.1", packet.V5,
		[]byte{0xf0, 0x02, 0x87, 0x00}, packet.ErrReasonCode, mfProtocol},
	{"SUBACK reason code 0x03", "3.9.3", packet.V5,
		[]byte{0x90, 0x05, 0x00, 0x01, 0x00, 0x00, 0x03}, packet.ErrReasonCode, mfProtocol},
	{"SUBACK return code 0x87 at 3.1.1", "3.1.1 3.9.3", packet.V311,
		[]byte{0x90, 0x03, 0x00, 0x01, 0x87}, packet.ErrReasonCode, mfProtocol},
	{"UNSUBACK reason code 0x01", "3.11.3", packet.V5,
		[]byte{0xb0, 0x04, 0x00, 0x01, 0x00, 0x01}, packet.ErrReasonCode, mfProtocol},
	{"CONNACK reason code 0x01", "3.2.2.2", packet.V5,
		[]byte{0x20, 0x03, 0x00, 0x01, 0x00}, packet.ErrReasonCode, mfProtocol},
	{"CONNACK reason code 0x8E", "3.2.2.2", packet.V5,
		[]byte{0x20, 0x03, 0x00, 0x8e, 0x00}, packet.ErrReasonCode, mfProtocol},
	{"CONNACK return code 6 at 3.1.1", "3.1.1 3.2.2.3", packet.V311,
		[]byte{0x20, 0x02, 0x00, 0x06}, packet.ErrReasonCode, mfProtocol},
	{"CONNACK acknowledge flags bit 1", "[MQTT-3.2.2-1]", packet.V5,
		[]byte{0x20, 0x03, 0x02, 0x00, 0x00}, packet.ErrMalformed, mfMalformed},
	{"SUBACK without reason codes", "[MQTT-3.9.3-1]", packet.V5,
		[]byte{0x90, 0x03, 0x00, 0x01, 0x00}, packet.ErrMalformed, mfMalformed},
	{"SUBACK without return codes at 3.1.1", "3.1.1 [MQTT-3.9.3-1]", packet.V311,
		[]byte{0x90, 0x02, 0x00, 0x01}, packet.ErrMalformed, mfMalformed},
	{"UNSUBACK without reason codes", "[MQTT-3.11.3-1]", packet.V5,
		[]byte{0xb0, 0x03, 0x00, 0x01, 0x00}, packet.ErrMalformed, mfMalformed},

	// ------------------------------------------------- bodies where none belong
	{"PINGREQ with a body", "3.12 no variable header or payload", packet.V311,
		[]byte{0xc0, 0x01, 0x00}, packet.ErrTrailingBytes, mfMalformed},
	{"PINGRESP with a body", "3.13 no variable header or payload", packet.V5,
		[]byte{0xd0, 0x02, 0x00, 0x00}, packet.ErrTrailingBytes, mfMalformed},
	{"DISCONNECT with a body at 3.1.1", "3.1.1 3.14 no variable header or payload", packet.V311,
		[]byte{0xe0, 0x01, 0x00}, packet.ErrTrailingBytes, mfMalformed},
	{"PUBACK with a reason code at 3.1.1", "3.1.1 3.4.2 remaining length 2", packet.V311,
		[]byte{0x40, 0x03, 0x00, 0x01, 0x00}, packet.ErrTrailingBytes, mfMalformed},
	{"UNSUBACK with a payload at 3.1.1", "3.1.1 3.11.3 no payload", packet.V311,
		[]byte{0xb0, 0x03, 0x00, 0x01, 0x00}, packet.ErrTrailingBytes, mfMalformed},
	{"CONNACK with a property length at 3.1.1", "3.1.1 3.2 remaining length 2", packet.V311,
		[]byte{0x20, 0x03, 0x00, 0x00, 0x00}, packet.ErrTrailingBytes, mfMalformed},
	{"PUBACK with bytes after its properties", "3.4.2", packet.V5,
		[]byte{0x40, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00}, packet.ErrTrailingBytes, mfMalformed},
	{"DISCONNECT with bytes after its properties", "3.14.2", packet.V5,
		[]byte{0xe0, 0x03, 0x00, 0x00, 0x00}, packet.ErrTrailingBytes, mfMalformed},

	// ------------------------------------------------------- other truncations
	{"PUBACK packet identifier cut off", "3.4.2", packet.V311,
		[]byte{0x40, 0x01, 0x00}, packet.ErrTruncated, mfMalformed},
	{"PUBLISH QoS 1 without packet identifier", "3.3.2.2", packet.V311,
		[]byte{0x32, 0x03, 0x00, 0x01, 't'}, packet.ErrTruncated, mfMalformed},
	{"PUBLISH topic length cut off", "3.3.2.1", packet.V311,
		[]byte{0x30, 0x01, 0x00}, packet.ErrTruncated, mfMalformed},
	{"PUBLISH topic longer than the packet", "3.3.2.1", packet.V311,
		[]byte{0x30, 0x03, 0x00, 0x05, 'a'}, packet.ErrTruncated, mfMalformed},
	{"PUBLISH without property length at 5.0", "3.3.2.3.1", packet.V5,
		[]byte{0x30, 0x03, 0x00, 0x01, 't'}, packet.ErrTruncated, mfMalformed},
	{"CONNACK of one byte", "3.2.2", packet.V311,
		[]byte{0x20, 0x01, 0x00}, packet.ErrTruncated, mfMalformed},
	{"CONNACK without property length at 5.0", "3.2.2.3.1", packet.V5,
		[]byte{0x20, 0x02, 0x00, 0x00}, packet.ErrTruncated, mfMalformed},
	{"SUBACK packet identifier cut off", "3.9.2", packet.V5,
		[]byte{0x90, 0x01, 0x00}, packet.ErrTruncated, mfMalformed},
	{"UNSUBACK without packet identifier at 3.1.1", "3.1.1 3.11.2", packet.V311,
		[]byte{0xb0, 0x00}, packet.ErrTruncated, mfMalformed},
	{"DISCONNECT properties cut off", "3.14.2.2", packet.V5,
		[]byte{0xe0, 0x03, 0x00, 0x05, 0x11}, packet.ErrTruncated, mfMalformed},
}
